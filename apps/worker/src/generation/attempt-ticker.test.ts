import { afterEach, describe, expect, it } from "vitest";
import { AttemptTicker, type ProgressRow } from "./attempt-ticker";

/** A statement the test answers by hand. */
interface Pending<T> {
  input: T;
  answer: (owned: string[]) => void;
}

function harness() {
  const progress: Pending<ProgressRow[]>[] = [];
  const leases: Pending<{ jobId: string; attempt: number }[]>[] = [];
  const lost: string[] = [];
  const ticker = new AttemptTicker({
    writeProgress: (rows) =>
      new Promise((resolve) => progress.push({ input: rows, answer: (owned) => resolve(new Set(owned)) })),
    renewLeases: (batch) =>
      new Promise((resolve) => leases.push({ input: batch, answer: (owned) => resolve(new Set(owned)) })),
    published: () => undefined,
    onError: (error) => {
      throw error;
    },
    intervalMs: 60_000,
    leaseEveryMs: 0,
  });
  const track = (jobId: string) =>
    ticker.track(jobId, 1, { stage: "starting", percent: 0 }, () => {
      lost.push(jobId);
    });
  return { ticker, progress, leases, lost, track };
}

let close: (() => void) | undefined;
afterEach(() => close?.());

describe("AttemptTicker", () => {
  it("ends and tells an attempt its lease statement found fenced out", async () => {
    const { ticker, leases, lost, track } = harness();
    close = () => ticker.close();
    const tracked = track("job_a");
    const tick = ticker.tick();
    await Promise.resolve();
    expect(leases[0]?.input).toEqual([{ jobId: "job_a", attempt: 1 }]);
    leases[0]?.answer([]);
    await tick;
    expect(lost).toEqual(["job_a"]);
    expect(tracked.ended).toBe(true);
  });

  it("takes no loss from a statement answered after the fence moved (a hedge recorded meanwhile)", async () => {
    const { ticker, leases, lost, track } = harness();
    close = () => ticker.close();
    const tracked = track("job_b");
    const first = ticker.tick();
    await Promise.resolve();
    // The lease statement is in flight under attempt 1; the hedge's statement moves the job to 2
    // before it runs, so it matches nothing.
    tracked.beginRefence();
    tracked.refence(2);
    leases[0]?.answer([]);
    await first;
    expect(lost).toEqual([]);
    expect(tracked.ended).toBe(false);
    // The next lease statement is fenced on the new number.
    const second = ticker.tick();
    await Promise.resolve();
    expect(leases[1]?.input).toEqual([{ jobId: "job_b", attempt: 2 }]);
    leases[1]?.answer(["job_b"]);
    await second;
    expect(lost).toEqual([]);
  });

  it("sends nothing for an attempt while its fence moves, and writes refused progress again under the new fence", async () => {
    const { ticker, progress, leases, lost, track } = harness();
    close = () => ticker.close();
    const tracked = track("job_c");
    tracked.push({ stage: "generating", percent: 30 });
    const first = ticker.tick();
    await Promise.resolve();
    expect(progress[0]?.input).toEqual([{ jobId: "job_c", attempt: 1, stage: "generating", percent: 30 }]);
    tracked.beginRefence();
    progress[0]?.answer([]);
    await Promise.resolve();
    await Promise.resolve();
    // While the fence moves, no lease statement is sent for it.
    expect(leases).toHaveLength(0);
    await first;
    expect(lost).toEqual([]);
    tracked.refence(2);
    const second = ticker.tick();
    await Promise.resolve();
    // The primary's progress (attempt 1) is written again, fenced on the hedge's number.
    expect(progress[1]?.input).toEqual([{ jobId: "job_c", attempt: 1, fence: 2, stage: "generating", percent: 30 }]);
    progress[1]?.answer(["job_c"]);
    await Promise.resolve();
    await Promise.resolve();
    leases[0]?.answer(["job_c"]);
    await second;
    expect(lost).toEqual([]);
  });
});
