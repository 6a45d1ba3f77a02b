// Preloaded into a Darkroom process by the benchmark (NODE_OPTIONS=--import <this file>): measures
// the process's event-loop lag (how late a 10 ms timer fires) and appends each 500 ms window's
// samples to BENCH_LOOP_LAG_FILE as one JSON line `{"at": epochMs, "lags": [ms, ...]}`, so the
// bench can take exact percentiles over any span. Darkroom's own code is not touched.
import { appendFileSync } from "node:fs";

const file = process.env.BENCH_LOOP_LAG_FILE;
if (file) {
  const intervalMs = 10;
  let lags = [];
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    lags.push(Math.round(Math.max(0, now - last - intervalMs) * 100) / 100);
    last = now;
  }, intervalMs).unref();
  setInterval(() => {
    appendFileSync(file, `${JSON.stringify({ at: Date.now(), lags })}\n`);
    lags = [];
  }, 500).unref();
}
