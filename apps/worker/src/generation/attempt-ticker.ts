import type { ProgressStage } from "@darkroom/domain";

export interface ProgressState {
  percent: number;
  stage: ProgressStage;
}

export interface ProgressRow extends ProgressState {
  jobId: string;
  /** The attempt whose progress this is. */
  attempt: number;
  /** The job's attempt number the write is fenced on, when it differs (a hedged run: see TrackedAttempt). */
  fence?: number;
}

export interface TickerDeps {
  /** Progress of every changed attempt, one statement; resolves to the job ids still owned. */
  writeProgress: (rows: ProgressRow[]) => Promise<Set<string>>;
  /** Every attempt's lease, one statement; resolves to the job ids still owned. */
  renewLeases: (leases: { jobId: string; attempt: number }[]) => Promise<Set<string>>;
  /** The jobs whose progress was just committed: one batch of signals. */
  published: (jobIds: string[]) => void;
  /**
   * Every change of an attempt's progress, at once (live listeners get it before its commit): the
   * job, the attempt whose progress it is, and the new state (not kept: read it now).
   */
  changed?: (jobId: string, attempt: number, state: ProgressState) => void;
  onError: (error: unknown, what: "progress" | "lease") => void;
  /** Progress is written at most this often (all attempts of the process together). */
  intervalMs: number;
  /** Leases are renewed this often. */
  leaseEveryMs: number;
}

/**
 * One run's progress, as the ticker tracks it: its attempt's, or in a hedged run the job's one
 * progress, which both calls push to (each labelled with its own attempt number).
 */
export class TrackedAttempt {
  /** The last state offered (written, or waiting for the next tick). */
  latest: ProgressState;
  /** The attempt whose progress `latest` is. */
  latestOf: number;
  /**
   * The job's attempt number the writes and the lease are fenced on: `attempt`, until a hedge
   * started alongside moves the job on ({@link refence}) while the primary's progress goes on.
   */
  fence: number;
  /** Waiting for the next tick. */
  dirty = false;
  /** Ended (finished, or fenced out): nothing more is written. */
  ended = false;
  /** The fence is moving (a hedge being recorded): nothing is sent until it has moved. */
  moving = false;
  /**
   * Counts the fence's moves (each start and end): a statement sent under one epoch and answered
   * under another says nothing about ownership, since it may have met the job at the new number.
   */
  epoch = 0;

  constructor(
    readonly jobId: string,
    /** The attempt the run claimed. */
    readonly attempt: number,
    initial: ProgressState,
    readonly onLost: () => void,
    private readonly ticker: AttemptTicker,
  ) {
    this.latest = initial;
    this.latestOf = attempt;
    this.fence = attempt;
  }

  /** Offers a new state of attempt `of`; percent never goes down within a stage of an attempt. */
  push(state: ProgressState, of: number = this.attempt): void {
    if (this.ended) return;
    const base = this.latest;
    const same = state.stage === base.stage && of === this.latestOf;
    const percent = Math.max(state.percent, same ? base.percent : 0);
    if (same && percent === base.percent) return;
    this.latest = { stage: state.stage, percent };
    this.latestOf = of;
    this.dirty = true;
    this.ticker.changed(this);
  }

  /** A statement that may move the job's attempt number (a hedge's start) is about to be sent. */
  beginRefence(): void {
    this.moving = true;
    this.epoch += 1;
  }

  /**
   * The statement of {@link beginRefence} answered: the job moved to attempt `fence` (a hedge
   * started alongside) and later writes are fenced on it; null: it did not move.
   */
  refence(fence: number | null): void {
    if (fence !== null) this.fence = fence;
    this.moving = false;
    this.epoch += 1;
  }

  /** The latest state as a row to write. */
  row(): ProgressRow {
    return {
      jobId: this.jobId,
      attempt: this.latestOf,
      ...(this.fence === this.latestOf ? {} : { fence: this.fence }),
      ...this.latest,
    };
  }

  /** The attempt is over: anything not yet written is dropped (its final write says more). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.ticker.forget(this);
  }
}

/** An attempt as a statement was sent for it: the fence's epoch then. */
interface Sent {
  tracked: TrackedAttempt;
  epoch: number;
}

/**
 * The progress and lease heartbeat of every attempt of a worker process: one timer, and per tick at
 * most one progress statement for all attempts whose progress changed (stage changes included, so
 * a change is written within `intervalMs`), then, every `leaseEveryMs`, one lease statement for
 * all. An attempt a write finds fenced out (canceled, taken over) is told once through `onLost`.
 * Statements never overlap: a tick that finds the previous one still running waits for the next.
 */
export class AttemptTicker {
  private readonly attempts = new Map<string, TrackedAttempt>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private lastLeaseAt = Date.now();

  constructor(private readonly deps: TickerDeps) {}

  track(jobId: string, attempt: number, initial: ProgressState, onLost: () => void): TrackedAttempt {
    const tracked = new TrackedAttempt(jobId, attempt, initial, onLost, this);
    this.attempts.get(jobId)?.end();
    this.attempts.set(jobId, tracked);
    if (this.timer === null) {
      this.timer = setInterval(() => void this.tick(), this.deps.intervalMs);
      this.timer.unref();
    }
    return tracked;
  }

  /** @internal by TrackedAttempt.push */
  changed(tracked: TrackedAttempt): void {
    this.deps.changed?.(tracked.jobId, tracked.latestOf, tracked.latest);
  }

  /** @internal by TrackedAttempt.end */
  forget(tracked: TrackedAttempt): void {
    if (this.attempts.get(tracked.jobId) === tracked) this.attempts.delete(tracked.jobId);
  }

  get size(): number {
    return this.attempts.size;
  }

  /** One tick: the progress statement, then (when due) the lease statement. Exposed for tests. */
  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.writeProgress();
      if (Date.now() - this.lastLeaseAt >= this.deps.leaseEveryMs) {
        this.lastLeaseAt = Date.now();
        await this.renewLeases();
      }
    } finally {
      this.running = false;
      if (this.attempts.size === 0 && this.timer !== null) {
        clearInterval(this.timer);
        this.timer = null;
      }
    }
  }

  private async writeProgress(): Promise<void> {
    const batch: Sent[] = [];
    const rows: ProgressRow[] = [];
    for (const tracked of this.attempts.values()) {
      if (!tracked.dirty || tracked.moving) continue;
      tracked.dirty = false;
      batch.push({ tracked, epoch: tracked.epoch });
      rows.push(tracked.row());
    }
    if (rows.length === 0) return;
    let owned: Set<string>;
    try {
      owned = await this.deps.writeProgress(rows);
    } catch (error) {
      // Written at the next tick (the latest state then); nothing is lost but time.
      for (const { tracked } of batch) if (!tracked.ended) tracked.dirty = true;
      this.deps.onError(error, "progress");
      return;
    }
    // A write refused because the fence moved meanwhile is written again under the new one.
    for (const tracked of this.lose(batch, owned)) tracked.dirty = true;
    if (owned.size > 0) this.deps.published([...owned]);
  }

  private async renewLeases(): Promise<void> {
    // An attempt whose fence is moving is renewed at the next lease tick (well within its lease).
    const batch = [...this.attempts.values()].filter((t) => !t.moving).map((t) => ({ tracked: t, epoch: t.epoch }));
    if (batch.length === 0) return;
    let owned: Set<string>;
    try {
      owned = await this.deps.renewLeases(batch.map(({ tracked: t }) => ({ jobId: t.jobId, attempt: t.fence })));
    } catch (error) {
      this.deps.onError(error, "lease");
      return;
    }
    this.lose(batch, owned);
  }

  /**
   * Ends and tells every attempt of `batch` its statement found fenced out; returns those whose
   * answer was inconclusive (their fence moved while the statement ran), which are left running.
   */
  private lose(batch: Sent[], owned: Set<string>): TrackedAttempt[] {
    const inconclusive: TrackedAttempt[] = [];
    for (const { tracked, epoch } of batch) {
      if (owned.has(tracked.jobId) || tracked.ended) continue;
      if (tracked.epoch !== epoch || tracked.moving) {
        inconclusive.push(tracked);
        continue;
      }
      tracked.end();
      tracked.onLost();
    }
    return inconclusive;
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
