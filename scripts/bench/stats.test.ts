import { describe, expect, it } from "vitest";
import { median, percentile, spread } from "./stats";

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
});
