import { describe, expect, it } from "vitest";
import { type ProgressState, ProgressWriter } from "./progress-writer";

interface Call {
  state: ProgressState;
  startedAt: number;
  /** Ends the write with `owned`; until then it is in flight. */
  finish: (owned?: boolean) => void;
}

/**
 * A writer whose writes stay in flight until the test finishes them, so that every assertion is
 * about order and overlap, not about how fast this machine happens to be.
 */
function harness(intervalMs: number) {
  const calls: Call[] = [];
  let concurrent = 0;
  let maxConcurrent = 0;
  let lost = 0;
  const writer = new ProgressWriter(
    { stage: "starting", percent: 0 },
    (state) =>
      new Promise<boolean>((resolve) => {
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        calls.push({
          state,
          startedAt: Date.now(),
          finish: (owned = true) => {
            concurrent--;
            resolve(owned);
          },
        });
      }),
    intervalMs,
    () => lost++,
    (err) => {
      throw err;
    },
  );
  const started = (n: number, timeoutMs = 5000) => until(() => calls.length >= n, timeoutMs);
  return { writer, calls, started, max: () => maxConcurrent, lost: () => lost };
}

/** Resolves once `condition` holds; rejects after `timeoutMs`. */
async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Lets the writer's promise callbacks of a finished write run. */
const settle = () => new Promise((r) => setImmediate(r));

describe("ProgressWriter", () => {
  it("coalesces a burst of percentages into the latest and never writes twice at once", async () => {
    const h = harness(60_000);
    h.writer.push({ stage: "generating", percent: 1 });
    for (let p = 2; p <= 50; p++) h.writer.push({ stage: "generating", percent: p });
    expect(h.calls.map((c) => c.state.percent)).toEqual([1]);
    h.calls[0]?.finish();
    const flushed = h.writer.flush();
    await h.started(2);
    h.calls[1]?.finish();
    await flushed;
    expect(h.calls.map((c) => c.state)).toEqual([
      { stage: "generating", percent: 1 },
      { stage: "generating", percent: 50 },
    ]);
    expect(h.max()).toBe(1);
  });

  it("writes a percentage change no sooner than the interval after the last write, then by itself", async () => {
    const h = harness(200);
    h.writer.push({ stage: "generating", percent: 1 });
    h.calls[0]?.finish();
    await settle();
    h.writer.push({ stage: "generating", percent: 2 });
    await h.started(2);
    // Timers never fire early, so the lower bound holds however loaded the machine is.
    expect((h.calls[1]?.startedAt ?? 0) - (h.calls[0]?.startedAt ?? 0)).toBeGreaterThanOrEqual(199);
    expect(h.calls[1]?.state).toEqual({ stage: "generating", percent: 2 });
    h.calls[1]?.finish();
  });

  it("writes a stage change at once, without waiting for the interval", async () => {
    const h = harness(60_000);
    h.writer.push({ stage: "generating", percent: 5 });
    h.calls[0]?.finish();
    await settle();
    h.writer.push({ stage: "storing", percent: 99 });
    // Well under the 60 s interval: a writer that waited for it would time out here.
    await h.started(2, 5000);
    expect(h.calls.map((c) => c.state.stage)).toEqual(["generating", "storing"]);
    h.calls[1]?.finish();
  });

  it("writes a stage change that arrives during a write as soon as that write ends", async () => {
    const h = harness(60_000);
    h.writer.push({ stage: "generating", percent: 5 });
    h.writer.push({ stage: "storing", percent: 99 });
    expect(h.calls).toHaveLength(1);
    h.calls[0]?.finish();
    await h.started(2, 5000);
    expect(h.calls.map((c) => c.state)).toEqual([
      { stage: "generating", percent: 5 },
      { stage: "storing", percent: 99 },
    ]);
    expect(h.max()).toBe(1);
    h.calls[1]?.finish();
  });

  it("never lets the percentage go down within a stage", async () => {
    const h = harness(0);
    h.writer.push({ stage: "generating", percent: 40 });
    h.calls[0]?.finish();
    await h.writer.flush();
    h.writer.push({ stage: "generating", percent: 20 });
    expect(h.calls).toHaveLength(1); // with a 0 ms interval a write would have started at once
    await h.writer.flush();
    expect(h.calls.map((c) => c.state)).toEqual([{ stage: "generating", percent: 40 }]);
  });

  it("reports a lost job once and stops writing", async () => {
    const h = harness(0);
    h.writer.push({ stage: "generating", percent: 10 });
    h.calls[0]?.finish(false);
    await h.writer.flush();
    h.writer.push({ stage: "storing", percent: 99 });
    expect(h.calls).toHaveLength(1); // a stage change would have started a write at once
    await h.writer.flush();
    expect(h.lost()).toBe(1);
    expect(h.calls).toHaveLength(1);
  });
});
