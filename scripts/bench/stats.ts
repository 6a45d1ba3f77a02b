/** Median and spread of one measure over the runs of a scenario. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

/** The p-th percentile (nearest rank) of `values`; NaN when empty. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

/**
 * The median of `values`: the middle one, or the mean of the two middle ones for an even count (so
 * that two runs give their mean, not the lower of them, which flattered a figure whose goal is a
 * ceiling); NaN when empty.
 */
export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function spread(runs: number[]): Spread {
  return { median: median(runs), min: Math.min(...runs), max: Math.max(...runs), runs };
}

/** The spread of `pick` over `runs`. */
export function over<T>(runs: T[], pick: (run: T) => number): Spread {
  return spread(runs.map(pick));
}
