import { describe, expect, it } from "vitest";
import { median, percentile, spread, steadyWindow } from "./stats";

describe("bench statistics", () => {
  it("gives the middle run as the median of an odd number of runs", () => {
    expect(median([30, 10, 20])).toBe(20);
    expect(spread([104.5, 23.3, 50])).toEqual({ median: 50, min: 23.3, max: 104.5, runs: [104.5, 23.3, 50] });
  });

  it("gives the mean of the two middle runs for an even number, not the lower one", () => {
    // Two runs of a progress latency p99 (a ceiling goal): the lower of them would have read as met.
    expect(median([23.3, 104.5])).toBeCloseTo(63.9);
    expect(spread([104.5, 23.3]).median).toBeCloseTo(63.9);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it("takes percentiles by nearest rank", () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile([], 99)).toBeNaN();
  });

  it("gives a drain's steady rate: the jobs between the 20th and the 90th percent finished, over that time", () => {
    // A warm-up of 20 jobs in 3.8 s, then 10 jobs a second: the whole drain reads 99 jobs / 11.8 s
    // (8.4/s), the steady part 10/s.
    const warmUp = Array.from({ length: 20 }, (_, i) => i * 200);
    const steady = Array.from({ length: 80 }, (_, i) => 3_800 + (i + 1) * 100);
    const finishes = [...steady, ...warmUp].reverse();
    expect(steadyWindow(finishes)?.rate).toBeCloseTo(10, 5);
    expect(steadyWindow(finishes, 0, 1)?.rate).toBeCloseTo(99 / 11.8, 5);
    // Its bounds: the 20th job's finish (the last of the warm-up) and the 90th's.
    expect(steadyWindow(finishes)).toEqual({ from: 3_800, to: 3_800 + 70 * 100, rate: expect.closeTo(10, 5) });
  });

  it("has no steady rate for fewer than 10 jobs or jobs that all finished at once", () => {
    expect(steadyWindow([1, 2, 3])).toBeNull();
    expect(steadyWindow(Array.from({ length: 20 }, () => 5))).toBeNull();
  });
});
