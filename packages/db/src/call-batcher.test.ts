import { describe, expect, it } from "vitest";
import { CallBatcher } from "./call-batcher";

/** A run function that records each batch and can be held open, to see what joins which batch. */
function recorder(fail: (input: string) => boolean = () => false) {
  const batches: string[][] = [];
  let release: () => void = () => undefined;
  let held: Promise<void> = Promise.resolve();
  return {
    batches,
    hold() {
      held = new Promise((resolve) => {
        release = resolve;
      });
    },
    release: () => release(),
    run: async (inputs: string[]) => {
      batches.push([...inputs]);
      await held;
      const bad = inputs.find(fail);
      if (bad !== undefined) throw new Error(`bad row ${bad}`);
      return inputs.map((i) => i.toUpperCase());
    },
  };
}

const byItself = (input: string) => input;

describe("CallBatcher", () => {
  it("sends the calls of one turn in one batch, and those made meanwhile together in the next", async () => {
    const rec = recorder();
    const batcher = new CallBatcher(rec.run, { keyOf: byItself, maxBatch: 100 });
    rec.hold();
    const first = ["a", "b", "c"].map((x) => batcher.submit(x));
    await new Promise((r) => setImmediate(r));
    expect(rec.batches).toEqual([["a", "b", "c"]]);
    // Made while the first batch is in flight: they wait for it, then go out as one.
    const second = ["d", "e"].map((x) => batcher.submit(x));
    await new Promise((r) => setImmediate(r));
    expect(rec.batches).toHaveLength(1);
    rec.release();
    expect(await Promise.all([...first, ...second])).toEqual(["A", "B", "C", "D", "E"]);
    expect(rec.batches).toEqual([
      ["a", "b", "c"],
      ["d", "e"],
    ]);
  });

  it("never puts two calls with one key, or more than maxBatch calls, in one batch", async () => {
    const rec = recorder();
    const batcher = new CallBatcher(rec.run, { keyOf: (x) => x.slice(0, 1), maxBatch: 2 });
    const answers = await Promise.all(["a1", "a2", "b", "c"].map((x) => batcher.submit(x)));
    expect(answers).toEqual(["A1", "A2", "B", "C"]);
    expect(rec.batches).toEqual([
      ["a1", "b"],
      ["a2", "c"],
    ]);
  });

  it("runs a failed batch again one call at a time: only the bad call fails, the others are answered", async () => {
    const rec = recorder((x) => x === "bad");
    const errors: number[] = [];
    const batcher = new CallBatcher(rec.run, {
      keyOf: byItself,
      maxBatch: 100,
      onBatchError: (_error, size) => errors.push(size),
    });
    const results = await Promise.allSettled(["a", "bad", "b"].map((x) => batcher.submit(x)));
    expect(results).toEqual([
      { status: "fulfilled", value: "A" },
      { status: "rejected", reason: new Error("bad row bad") },
      { status: "fulfilled", value: "B" },
    ]);
    expect(errors).toEqual([3]);
    expect(rec.batches).toEqual([["a", "bad", "b"], ["a"], ["bad"], ["b"]]);
    // The batcher goes on afterwards.
    expect(await batcher.submit("c")).toBe("C");
  });
});
