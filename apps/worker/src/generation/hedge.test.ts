import { describe, expect, it } from "vitest";
import { HedgeLost, hedgePlan, type RaceCall, RaceFailed, type RaceOptions, raceWithHedge } from "./hedge";

/** A call the test settles by hand; it rejects with the signal's reason when aborted. */
interface Manual {
  call: RaceCall;
  signal: AbortSignal;
  resolve: (value: string) => void;
  reject: (error: unknown) => void;
  /** Settles when the call's promise has. */
  settled: Promise<void>;
}

const PRIMARY: RaceCall = { attempt: 1, model: "gpt-4o-image" };
const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

/** A race whose calls, hedge start and lone failures are recorded, and settled by the test. */
function harness(overrides: Partial<RaceOptions<string>> = {}) {
  const calls: Manual[] = [];
  const log: string[] = [];
  const run = new AbortController();
  let abortLater = false;
  const options: RaceOptions<string> = {
    primary: PRIMARY,
    fallbackModel: "gpt-image-1",
    afterMs: 20,
    signal: run.signal,
    call: (call, signal) => {
      let resolve: (value: string) => void = () => undefined;
      let reject: (error: unknown) => void = () => undefined;
      const promise = new Promise<string>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // Like a real call, an aborted one winds down a little later.
      signal.addEventListener("abort", () => setTimeout(() => reject(signal.reason), abortLater ? 30 : 0));
      calls.push({
        call,
        signal,
        resolve,
        reject,
        settled: promise.then(
          () => undefined,
          () => undefined,
        ),
      });
      return promise;
    },
    startHedge: async () => {
      log.push("hedge recorded");
      return 2;
    },
    failedAlone: async (call) => {
      log.push(`failed alone ${call.attempt}`);
    },
    ...overrides,
  };
  const race = raceWithHedge(options);
  race.catch(() => undefined);
  return {
    race,
    calls,
    log,
    run,
    slowAborts: () => {
      abortLater = true;
    },
  };
}

describe("raceWithHedge", () => {
  it("starts the hedge after afterMs; the first result wins and the other call is aborted", async () => {
    const { race, calls, log } = harness();
    await tick(40);
    expect(log).toEqual(["hedge recorded"]);
    expect(calls.map((c) => c.call)).toEqual([PRIMARY, { attempt: 2, model: "gpt-image-1" }]);
    calls[1]?.resolve("hedge image");
    const result = await race;
    expect(result).toMatchObject({ outcome: "hedge image", winner: { attempt: 2 }, loser: PRIMARY });
    expect(calls[0]?.signal.reason).toBeInstanceOf(HedgeLost);
  });

  it("does not start the hedge while canHedge says no, and asks again after another afterMs", async () => {
    const answers = [false, true];
    const asked: number[] = [];
    const started = Date.now();
    const { race, calls, log } = harness({
      afterMs: 30,
      canHedge: async () => {
        asked.push(Date.now() - started);
        return answers.shift() ?? true;
      },
    });
    await tick(45);
    expect(asked).toHaveLength(1);
    expect(log).toEqual([]);
    expect(calls).toHaveLength(1);
    await tick(45);
    expect(asked).toHaveLength(2);
    expect((asked[1] ?? 0) - (asked[0] ?? 0)).toBeGreaterThanOrEqual(25);
    expect(log).toEqual(["hedge recorded"]);
    calls[1]?.resolve("hedge image");
    expect(await race).toMatchObject({ winner: { attempt: 2 } });
  });

  it("records a lone failure and runs on with the other call", async () => {
    const { race, calls, log } = harness();
    await tick(40);
    calls[1]?.reject(new Error("500"));
    await tick();
    expect(log).toEqual(["hedge recorded", "failed alone 2"]);
    calls[0]?.resolve("primary image");
    expect(await race).toMatchObject({ outcome: "primary image", winner: PRIMARY, loser: null });
  });

  it("waits for a lone failure's record before a result completes the job (the failed call is no loser)", async () => {
    let recorded: () => void = () => undefined;
    const { race, calls, log } = harness({
      failedAlone: (call) =>
        new Promise<void>((resolve) => {
          log.push(`recording ${call.attempt}`);
          recorded = () => {
            log.push(`recorded ${call.attempt}`);
            resolve();
          };
        }),
    });
    await tick(40);
    calls[1]?.reject(new Error("500"));
    await tick();
    calls[0]?.resolve("primary image");
    let resolved = false;
    void race.then(() => {
      resolved = true;
    });
    await tick(10);
    expect(resolved).toBe(false);
    recorded();
    const result = await race;
    expect(log).toEqual(["hedge recorded", "recording 2", "recorded 2"]);
    expect(result).toMatchObject({ winner: PRIMARY, loser: null });
  });

  it("ends at once for both calls when the run's own signal aborts them (worker stopping, deadline): nothing recorded alone", async () => {
    const { race, calls, log, run, slowAborts } = harness();
    await tick(40);
    slowAborts();
    run.abort(new Error("worker stopping"));
    const failed = await race.then(
      () => null,
      (error: unknown) => error,
    );
    expect(failed).toBeInstanceOf(RaceFailed);
    const { call, alongside } = failed as RaceFailed;
    expect([call.attempt, alongside?.attempt].sort()).toEqual([1, 2]);
    // No call was recorded as failed on its own: the run ends once, for both.
    expect(log).toEqual(["hedge recorded"]);
    // And only once both calls have wound down.
    let bothSettled = false;
    await Promise.all(calls.map((c) => c.settled)).then(() => {
      bothSettled = true;
    });
    expect(bothSettled).toBe(true);
  });

  it("fails without a hedge when the primary fails before the hedge is due", async () => {
    const { race, calls, log } = harness({ afterMs: 30 });
    calls[0]?.reject(new Error("400"));
    await expect(race).rejects.toMatchObject({ call: PRIMARY, alongside: null });
    await tick(60);
    expect(log).toEqual([]);
    expect(calls).toHaveLength(1);
  });
});

describe("hedgePlan", () => {
  const job = { model: "gpt-4o-image", fallbackModel: "gpt-image-1", hedgeAfterSeconds: 5 };
  it("hedges only an attempt on the primary of a job with hedge_after_seconds and another fallback", () => {
    expect(hedgePlan(job, "gpt-4o-image")).toEqual({ fallbackModel: "gpt-image-1", afterMs: 5000 });
    // Already on the fallback (after a failure, or sent there by an open circuit).
    expect(hedgePlan(job, "gpt-image-1")).toBeNull();
    expect(hedgePlan({ ...job, hedgeAfterSeconds: null }, "gpt-4o-image")).toBeNull();
    expect(hedgePlan({ ...job, fallbackModel: null }, "gpt-4o-image")).toBeNull();
    expect(hedgePlan({ ...job, model: "gpt-image-1" }, "gpt-image-1")).toBeNull();
  });
});
