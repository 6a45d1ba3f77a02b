/** Wall-clock milliseconds with sub-millisecond precision (sample times, matched with Date.now() elsewhere). */
export const preciseNow = (): number => performance.timeOrigin + performance.now();

/**
 * Milliseconds on the machine's monotonic clock (CLOCK_MONOTONIC): one clock for every process of
 * the machine, so a send instant in one process and a receive instant in another subtract exactly.
 * `performance.timeOrigin` is set per process from the wall clock and can be off by a millisecond,
 * more than a live progress event takes to arrive.
 */
export const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;
