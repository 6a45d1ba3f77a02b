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

export function spread(runs: number[]): Spread {
  return { median: percentile(runs, 50), min: Math.min(...runs), max: Math.max(...runs), runs };
}

/** The spread of `pick` over `runs`. */
export function over<T>(runs: T[], pick: (run: T) => number): Spread {
  return spread(runs.map(pick));
}
