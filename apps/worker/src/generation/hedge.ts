/**
 * The hedged fallback's race (`hedge_after_seconds`, docs/hedging.md): the primary call runs; when
 * its progress has not moved for `afterMs`, the fallback call starts alongside it; the first valid
 * result wins and the other call is aborted. A call that fails while the other still runs is
 * recorded on its own (the job runs on); the race fails only when both have failed (or the primary
 * failed before the hedge started).
 */

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

/** The race ended without a result: `call` failed last, with `error`. */
export class RaceFailed extends Error {
  constructor(
    readonly call: RaceCall,
    readonly error: unknown,
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
    let starting: Promise<void> = Promise.resolve();
    let done = false;
    let hedgeAsked = false;
    let timer: NodeJS.Timeout | undefined;

    const launch = (call: RaceCall, progressed: () => void) => {
      const abort = new AbortController();
      const promise = options.call(call, AbortSignal.any([options.signal, abort.signal]), progressed);
      running.set(call, { abort, settled: promise.catch(() => undefined) });
      promise.then(
        async (outcome) => {
          running.delete(call);
          await starting; // a hedge being recorded right now moves the fence: wait for it
          if (done) return;
          done = true;
          clearTimeout(timer);
          const [other] = [...running.entries()];
          other?.[1].abort.abort(new HedgeLost());
          resolve({
            outcome,
            winner: call,
            loser: other?.[0] ?? null,
            hedge,
            loserSettled: other?.[1].settled ?? Promise.resolve(),
          });
        },
        async (error: unknown) => {
          running.delete(call);
          await starting;
          if (done) return;
          const [other] = [...running.keys()];
          if (other !== undefined) {
            await options.failedAlone(call, error, other).catch(() => undefined);
            return;
          }
          done = true;
          clearTimeout(timer);
          reject(new RaceFailed(call, error));
        },
      );
    };

    const startHedge = () => {
      if (done || hedgeAsked || options.signal.aborted) return;
      hedgeAsked = true;
      starting = (async () => {
        const number = await options.startHedge().catch(() => null);
        if (number === null || done) {
          // Fenced out (the run lost the job): the primary learns it from its own writes.
          return;
        }
        hedge = { attempt: number, model: options.fallbackModel };
        launch(hedge, () => undefined);
      })();
    };

    timer = setTimeout(startHedge, options.afterMs);
    // Progress moves the hedge further away; once started, the hedge stays.
    launch(options.primary, () => {
      if (!hedgeAsked) timer?.refresh();
    });
  });
}
