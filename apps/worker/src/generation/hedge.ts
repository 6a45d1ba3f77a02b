/**
 * The hedged fallback's race (`hedge_after_seconds`, docs/hedging.md): the primary call runs; when
 * its progress has not moved for `afterMs`, the fallback call starts alongside it; the first valid
 * result wins and the other call is aborted. A call that fails while the other still runs is
 * recorded on its own (the job runs on); the race fails only when both have failed (or the primary
 * failed before the hedge started).
 */

/**
 * Whether an attempt on `model` is hedged, and how: only an attempt on the job's primary whose
 * fallback is another model (so not one already on the fallback, nor one a circuit sent there),
 * for a job created with `hedge_after_seconds`.
 */
export function hedgePlan(
  job: { model: string; fallbackModel: string | null; hedgeAfterSeconds: number | null },
  model: string,
): { fallbackModel: string; afterMs: number } | null {
  if (job.hedgeAfterSeconds === null || job.fallbackModel === null) return null;
  if (model !== job.model || job.fallbackModel === job.model) return null;
  return { fallbackModel: job.fallbackModel, afterMs: job.hedgeAfterSeconds * 1000 };
}

/** One upstream call of the run: its attempt number and model. */
export interface RaceCall {
  attempt: number;
  model: string;
}

/** The abort reason of the call that lost the race. */
export class HedgeLost extends Error {
  constructor() {
    super("the other call of the hedged run returned first");
    this.name = "HedgeLost";
  }
}

/**
 * The race ended without a result: `call` failed last, with `error`. `alongside` is the other call
 * when the run's own signal ended both at once (cancel, deadline, worker stopping, lost ownership):
 * it was aborted with `call`, and nothing was recorded for it on its own.
 */
export class RaceFailed extends Error {
  constructor(
    readonly call: RaceCall,
    readonly error: unknown,
    readonly alongside: RaceCall | null = null,
  ) {
    super("every call of the hedged run failed");
    this.name = "RaceFailed";
  }
}

export interface RaceOptions<T> {
  primary: RaceCall;
  fallbackModel: string;
  afterMs: number;
  /** The run's own signal (cancel, deadline, worker stopping, lost ownership): aborts both calls. */
  signal: AbortSignal;
  /** Makes one call; `progressed` is called whenever its progress (percent or stage) moved. */
  call: (call: RaceCall, signal: AbortSignal, progressed: () => void) => Promise<T>;
  /**
   * Whether the hedge may start now (the fallback's circuit closed); when not, it is asked again
   * after another `afterMs` without progress. Absent: always.
   */
  canHedge?: () => Promise<boolean>;
  /** Records the hedge's attempt (the job moves to its number): that number, or null when fenced out. */
  startHedge: () => Promise<number | null>;
  /** Records a call that failed while the other still runs. */
  failedAlone: (call: RaceCall, error: unknown, stillRunning: RaceCall) => Promise<void>;
}

export interface RaceResult<T> {
  outcome: T;
  winner: RaceCall;
  /** The aborted call, if the hedge started and the other call was still running. */
  loser: RaceCall | null;
  /** The hedge's call, when it started (the job's attempt fence is then its number). */
  hedge: RaceCall | null;
  /** Settles once the aborted call has wound down (its stored images may then be removed). */
  loserSettled: Promise<unknown>;
}

/** Runs the primary, and the fallback alongside once the primary stood still for `afterMs`. */
export function raceWithHedge<T>(options: RaceOptions<T>): Promise<RaceResult<T>> {
  return new Promise((resolve, reject) => {
    const running = new Map<RaceCall, { abort: AbortController; settled: Promise<unknown> }>();
    let hedge: RaceCall | null = null;
    let done = false;
    let hedgeAsked = false;
    let timer: NodeJS.Timeout | undefined;
    // Every decision of the race (the hedge recorded, a result, a failure) runs here, one at a time
    // and each to its end, database writes included: a result never completes the job on a fence a
    // hedge being recorded is about to move, a failure never takes a call that has just returned
    // for one still running, and a result arriving while a lone failure is being recorded waits
    // for that record instead of ending its attempt as the loser.
    let chain: Promise<void> = Promise.resolve();
    const serially = (step: () => Promise<void> | void) => {
      chain = chain.then(step).catch(reject);
    };
    const finish = () => {
      done = true;
      clearTimeout(timer);
    };

    const launch = (call: RaceCall, progressed: () => void) => {
      const abort = new AbortController();
      const promise = options.call(call, AbortSignal.any([options.signal, abort.signal]), progressed);
      const settled = promise.then(
        () => undefined,
        () => undefined,
      );
      running.set(call, { abort, settled });
      promise.then(
        (outcome) =>
          serially(() => {
            running.delete(call);
            if (done) return;
            finish();
            const [other] = [...running.entries()];
            other?.[1].abort.abort(new HedgeLost());
            resolve({
              outcome,
              winner: call,
              loser: other?.[0] ?? null,
              hedge,
              loserSettled: other?.[1].settled ?? Promise.resolve(),
            });
          }),
        (error: unknown) =>
          serially(async () => {
            running.delete(call);
            if (done) return;
            const [other] = [...running.entries()];
            if (other !== undefined && !options.signal.aborted) {
              await options.failedAlone(call, error, other[0]).catch(() => undefined);
              return;
            }
            finish();
            // The run's own signal took both calls down: the run ends once, for both, when the other
            // has wound down too (what it stored can then be removed).
            await other?.[1].settled;
            reject(new RaceFailed(call, error, other?.[0] ?? null));
          }),
      );
    };

    const startHedge = () => {
      if (done || hedgeAsked || options.signal.aborted) return;
      hedgeAsked = true;
      serially(async () => {
        if (done) return;
        if (options.canHedge !== undefined && !(await options.canHedge().catch(() => true))) {
          // Not now: asked again once the primary has stood still for another afterMs.
          hedgeAsked = false;
          timer?.refresh();
          return;
        }
        const number = await options.startHedge().catch(() => null);
        // Fenced out (the run lost the job): the primary learns it from its own writes.
        if (number === null || done) return;
        hedge = { attempt: number, model: options.fallbackModel };
        launch(hedge, () => undefined);
      });
    };

    timer = setTimeout(startHedge, options.afterMs);
    // Progress moves the hedge further away; once started, the hedge stays.
    launch(options.primary, () => {
      if (!hedgeAsked) timer?.refresh();
    });
  });
}
