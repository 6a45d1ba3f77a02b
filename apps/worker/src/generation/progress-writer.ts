import type { ProgressStage } from "@darkroom/domain";

export interface ProgressState {
  percent: number;
  stage: ProgressStage;
}

/**
 * Coalesces progress for one attempt: a stage change is written at once, percent changes at most
 * every `intervalMs`, and never two writes at the same time (the latest state wins). A write that
 * reports the attempt lost the job calls `onLost` once.
 */
export class ProgressWriter {
  private written: ProgressState;
  private pending: ProgressState | null = null;
  private inFlight: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastWriteAt = 0;
  private lost = false;

  constructor(
    initial: ProgressState,
    private readonly write: (state: ProgressState) => Promise<boolean>,
    private readonly intervalMs: number,
    private readonly onLost: () => void,
    private readonly onError: (error: unknown) => void,
  ) {
    this.written = initial;
  }

  /** Offers a new state; percent never goes down within an attempt. */
  push(state: ProgressState): void {
    if (this.lost) return;
    const base = this.pending ?? this.written;
    const next = {
      stage: state.stage,
      percent: Math.max(state.percent, state.stage === base.stage ? base.percent : 0),
    };
    if (next.stage === base.stage && next.percent === base.percent) return;
    this.pending = next;
    if (next.stage !== this.written.stage) {
      this.kick(0);
    } else {
      this.kick(Math.max(0, this.lastWriteAt + this.intervalMs - Date.now()));
    }
  }

  private kick(delayMs: number): void {
    if (this.inFlight !== null) return; // the running write picks up `pending` when it ends
    if (this.timer !== null) {
      if (delayMs > 0) return;
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (delayMs > 0) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.run();
      }, delayMs);
      return;
    }
    this.run();
  }

  private run(): void {
    const state = this.pending;
    if (state === null || this.lost) return;
    this.pending = null;
    this.lastWriteAt = Date.now();
    this.inFlight = this.write(state)
      .then((owned) => {
        if (!owned) {
          this.lost = true;
          this.onLost();
          return;
        }
        this.written = state;
      })
      .catch(this.onError)
      .finally(() => {
        this.inFlight = null;
        if (this.pending !== null && !this.lost) {
          const stageChange = this.pending.stage !== this.written.stage;
          this.kick(stageChange ? 0 : Math.max(0, this.lastWriteAt + this.intervalMs - Date.now()));
        }
      });
  }

  /** Writes whatever is pending now and waits for it; call before the attempt's final write. */
  async flush(): Promise<void> {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.inFlight !== null || (this.pending !== null && !this.lost)) {
      if (this.inFlight === null) this.run();
      await this.inFlight;
    }
  }

  /** Drops anything pending (the attempt is over). */
  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.pending = null;
    this.lost = true;
  }
}
