import type { Logger } from "@darkroom/logger";
import {
  type Admission,
  type FairIntake,
  type GenerationQueue,
  QUEUES,
  type ReleaseItem,
  type StartItem,
  withTimeout,
} from "@darkroom/queue";

export interface AdmitterOptions {
  intake: FairIntake;
  queue: GenerationQueue;
  workerId: string;
  /** This worker's slots: what it adds to the shared capacity. */
  concurrency: number;
  logger: Logger;
  /** Admissions per Redis call. */
  batch?: number;
  /** Chaos tests only: the process dies between choosing work and adding its BullMQ jobs. */
  killAfterAdmit?: boolean;
  heartbeatMs?: number;
}

/** A worker's slots count toward the capacity this long after its last heartbeat. */
const HEARTBEAT_TTL_FACTOR = 5;

/** At most this many slots are freed, and as many starts marked, in one admission round's call. */
const MAX_PER_ROUND = 500;

/** A slot to free in the next round, and its caller's answer. */
interface PendingRelease {
  item: ReleaseItem;
  resolve: (freed: boolean) => void;
  reject: (error: unknown) => void;
}

/**
 * The admission step of one worker process: moves work from the tenants' intakes into the BullMQ
 * generation queue whenever the shared capacity has a free slot (a job of any worker ended, an
 * enqueue arrived, a retry came due, or on the heartbeat). Every worker runs one; the choice itself
 * is one Redis script, so they never admit the same work twice or pass a tenant's cap. A crash
 * between the choice and the BullMQ add leaves an admission without a BullMQ job: the reconciler's
 * sweep gives it a new one.
 */
export class Admitter {
  private readonly batch: number;
  private readonly heartbeatMs: number;
  private heartbeat: NodeJS.Timeout | undefined;
  private dueTimer: NodeJS.Timeout | undefined;
  private dueAt: number | null = null;
  private running = false;
  private again = false;
  private closed = false;
  private idle: Promise<void> = Promise.resolve();
  /** Callers of `nudge` since the last round began: answered when the next round ends. */
  private waiting: (() => void)[] = [];
  /** Slots whose jobs ended since the last round began: freed by the next round's call. */
  private releases: PendingRelease[] = [];
  /** Admissions whose jobs this worker took since the last round began: marked by the next round's call. */
  private starts: StartItem[] = [];

  constructor(private readonly options: AdmitterOptions) {
    this.batch = options.batch ?? 100;
    this.heartbeatMs = options.heartbeatMs ?? 2_000;
  }

  async start(): Promise<void> {
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat(), this.heartbeatMs);
  }

  private async beat(): Promise<void> {
    const { intake, workerId, concurrency } = this.options;
    try {
      await intake.heartbeat(workerId, concurrency, this.heartbeatMs * HEARTBEAT_TTL_FACTOR);
    } catch (err) {
      this.options.logger.warn({ err: (err as Error).message }, "admission heartbeat failed");
    }
    void this.nudge();
  }

  /**
   * Runs an admission round now, or right after the one in progress. Resolves when a round that
   * began after the call has ended (its work added to BullMQ, or the round failed); never rejects.
   * A worker whose job just freed a slot waits for it before handing the job back to BullMQ: the
   * work admitted into that slot is then already waiting, and BullMQ's completion script takes it
   * as the worker's next job, instead of a blocking wait and a `moveToActive` script per job.
   */
  nudge(): Promise<void> {
    if (this.closed) return Promise.resolve();
    const ended = new Promise<void>((resolve) => this.waiting.push(resolve));
    this.wake();
    return ended;
  }

  /**
   * Frees an admission's slot (or, with `retryAt`, holds it for the retry's wait) in the next round,
   * which admits into it in the same Redis call. Resolves with whether the slot was freed (false: a
   * stale admission, fenced on its BullMQ id) once that round has ended, its admitted work in BullMQ
   * as with {@link nudge}; rejects when the call failed (the slot is not freed: the reconciler's
   * sweep frees it). After `close`, frees the slot alone.
   */
  release(item: ReleaseItem): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const pending = { item, resolve, reject };
      if (this.closed) {
        void this.releaseAlone([pending]);
        return;
      }
      this.releases.push(pending);
      this.wake();
    });
  }

  /**
   * Marks an admission started (its BullMQ job taken) in the next round, before (or with) the
   * release of its slot: rounds run one after the other, and each marks its starts before it frees
   * its slots. A round that fails loses its marks, as a failed mark always did: the release frees an
   * unmarked admission all the same. After `close`, marks it alone.
   */
  markStarted(item: StartItem): void {
    if (this.closed) {
      this.markAlone([item]);
      return;
    }
    this.starts.push(item);
    this.wake();
  }

  /** Marks starts without an admission round (the admitter is closed). */
  private markAlone(items: StartItem[]): void {
    if (items.length === 0) return;
    this.options.intake.startedMany(items).catch((err: unknown) => {
      this.options.logger.warn({ err: (err as Error).message }, "start marks not written");
    });
  }

  /** Frees slots without an admission round (the admitter is closed), answering their callers. */
  private async releaseAlone(pending: PendingRelease[]): Promise<void> {
    try {
      const freed = await this.options.intake.releaseMany(pending.map((r) => r.item));
      for (const [i, r] of pending.entries()) r.resolve(freed[i] === true);
    } catch (error) {
      for (const r of pending) r.reject(error);
    }
  }

  private wake(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.idle = this.loop();
  }

  private async loop(): Promise<void> {
    const { intake, logger } = this.options;
    let round: (() => void)[] = [];
    let freeing: PendingRelease[] = [];
    try {
      do {
        this.again = false;
        round = this.waiting;
        this.waiting = [];
        freeing = this.releases.splice(0, MAX_PER_ROUND);
        const { freed, admitted, nextDueAt } = await intake.releaseAndAdmit({
          starts: this.starts.splice(0, MAX_PER_ROUND),
          releases: freeing.map((r) => r.item),
          batch: this.batch,
        });
        // The slots are freed: whatever happens to the admissions, their callers are answered.
        const answered = freeing;
        freeing = [];
        try {
          await this.enqueue(admitted);
        } finally {
          for (const [i, r] of answered.entries()) r.resolve(freed[i] === true);
        }
        this.scheduleDue(nextDueAt);
        for (const resolve of round) resolve();
        round = [];
      } while ((this.again || this.releases.length > 0 || this.starts.length > 0) && !this.closed);
    } catch (err) {
      // Nothing is lost: chosen work keeps its slot and the reconciler's sweep re-adds it; a slot
      // not freed is freed by the same sweep.
      logger.warn({ err: (err as Error).message }, "admission round failed");
      for (const r of freeing) r.reject(err);
    } finally {
      this.running = false;
      // A failed round (or a close) answers everyone waiting: no one waits on a round not coming.
      for (const resolve of [...round, ...this.waiting.splice(0)]) resolve();
      // Starts and slots of jobs that took or ended meanwhile are still marked and freed (in that
      // order, on the same connection): alone once the admitter is closed, else by a round of their own.
      if (this.closed) {
        this.markAlone(this.starts.splice(0));
        void this.releaseAlone(this.releases.splice(0));
      } else if (this.releases.length > 0 || this.starts.length > 0) this.wake();
    }
  }

  /** Adds a round's admitted work to BullMQ; a full batch asks for another round at once. */
  private async enqueue(admitted: Admission[]): Promise<void> {
    if (admitted.length === 0) return;
    if (this.options.killAfterAdmit === true) process.kill(process.pid, "SIGKILL");
    await withTimeout(
      this.options.queue.addBulk(
        admitted.map((a) => ({
          name: QUEUES.generation.name,
          data: { jobId: a.jobId, work: a.work },
          opts: { jobId: a.bullJobId },
        })),
      ),
      5_000,
      "admission add",
    );
    this.options.logger.debug({ admitted: admitted.length }, "admitted work");
    if (admitted.length >= this.batch) this.again = true;
  }

  private scheduleDue(at: number | null): void {
    if (at === null || this.closed) return;
    if (this.dueAt !== null && this.dueAt <= at) return;
    clearTimeout(this.dueTimer);
    this.dueAt = at;
    this.dueTimer = setTimeout(
      () => {
        this.dueAt = null;
        void this.nudge();
      },
      Math.max(0, at - Date.now()),
    );
  }

  /** Stops admitting and takes this worker's slots out of the capacity. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.dueTimer);
    await this.idle;
    await this.options.intake.heartbeat(this.options.workerId, 0, 0).catch(() => undefined);
  }
}
