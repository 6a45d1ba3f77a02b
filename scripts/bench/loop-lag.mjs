// Preloaded into a Darkroom process by the benchmark (NODE_OPTIONS=--import <this file>): measures
// the process's event-loop delay with perf_hooks and writes it to BENCH_LOOP_LAG_FILE every 500 ms.
// SIGUSR2 starts a new measurement window. Darkroom's own code is not touched.
import { writeFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";

const file = process.env.BENCH_LOOP_LAG_FILE;
if (file) {
  const resolutionMs = 10;
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  // The histogram holds the time between timer turns, the resolution included.
  const lag = (ns) => Math.max(0, ns / 1e6 - resolutionMs);
  process.on("SIGUSR2", () => histogram.reset());
  const write = () => {
    const report = {
      at: Date.now(),
      count: histogram.count,
      p50: lag(histogram.percentile(50)),
      p99: lag(histogram.percentile(99)),
      max: lag(histogram.max),
    };
    writeFileSync(file, JSON.stringify(report));
  };
  setInterval(write, 500).unref();
}
