import { describe, expect, it } from "vitest";
import { type ProgressState, ProgressWriter } from "./progress-writer";

function harness(intervalMs: number, owned = true) {
  const writes: ProgressState[] = [];
  let concurrent = 0;
  let maxConcurrent = 0;
  let lost = 0;
  const writer = new ProgressWriter(
    { stage: "starting", percent: 0 },
    async (state) => {
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      await new Promise((r) => setTimeout(r, 15));
      writes.push(state);
      concurrent--;
      return owned;
    },
    intervalMs,
    () => lost++,
    (err) => {
      throw err;
    },
  );
  return { writer, writes, max: () => maxConcurrent, lost: () => lost };
}

describe("ProgressWriter", () => {
  it("coalesces a burst of percentages and never writes twice at once", async () => {
    const h = harness(100);
    h.writer.push({ stage: "generating", percent: 1 });
    for (let p = 2; p <= 50; p++) h.writer.push({ stage: "generating", percent: p });
    await new Promise((r) => setTimeout(r, 60));
    await h.writer.flush();
    expect(h.max()).toBe(1);
    expect(h.writes.length).toBeLessThanOrEqual(3);
    expect(h.writes.at(-1)).toEqual({ stage: "generating", percent: 50 });
  });

  it("writes a stage change at once, without waiting for the interval", async () => {
    const h = harness(10_000);
    h.writer.push({ stage: "generating", percent: 5 });
    await new Promise((r) => setTimeout(r, 30));
    h.writer.push({ stage: "storing", percent: 99 });
    await new Promise((r) => setTimeout(r, 40));
    expect(h.writes.map((w) => w.stage)).toEqual(["generating", "storing"]);
  });

  it("never lets the percentage go down within a stage", async () => {
    const h = harness(0);
    h.writer.push({ stage: "generating", percent: 40 });
    await h.writer.flush();
    h.writer.push({ stage: "generating", percent: 20 });
    await h.writer.flush();
    expect(h.writes).toEqual([{ stage: "generating", percent: 40 }]);
  });

  it("reports a lost job once and stops writing", async () => {
    const h = harness(0, false);
    h.writer.push({ stage: "generating", percent: 10 });
    await h.writer.flush();
    h.writer.push({ stage: "storing", percent: 99 });
    await h.writer.flush();
    expect(h.lost()).toBe(1);
    expect(h.writes).toHaveLength(1);
  });
});
