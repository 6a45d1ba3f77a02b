/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes of one machine. */
export const preciseNow = (): number => performance.timeOrigin + performance.now();
