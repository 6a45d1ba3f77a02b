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

/** The steady part of a drain: when it began and ended (epoch ms) and its jobs per second. */
export interface SteadyWindow {
  from: number;
  to: number;
  rate: number;
}

/**
 * The steady part of a drain: from the moment the first `from` of the jobs had finished to the
 * moment the first `to` had, and the jobs that finished in it per second. It leaves out a freshly
 * started process's warm-up (its JIT compiling the hot paths, pools opening connections), which
 * takes a few seconds whatever the backlog, and the tail, where fewer jobs than the concurrency are
 * left. Null with fewer than 10 jobs or when they all finished at once.
 */
export function steadyWindow(finishedAtMs: number[], from = 0.2, to = 0.9): SteadyWindow | null {
  if (finishedAtMs.length < 10) return null;
  const sorted = [...finishedAtMs].sort((a, b) => a - b);
  const first = Math.max(0, Math.ceil(from * sorted.length) - 1);
  const last = Math.max(0, Math.ceil(to * sorted.length) - 1);
  const start = sorted[first] as number;
  const end = sorted[last] as number;
  return end > start ? { from: start, to: end, rate: (last - first) / ((end - start) / 1000) } : null;
}
