import { describe, expect, it } from "vitest";
import { WorkerMetrics } from "./metrics";

/** The value of an unlabelled metric in the registry's text output (a read collects every metric). */
async function read(metrics: WorkerMetrics, name: string): Promise<number> {
  const text = await metrics.registry.metrics();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`${name} is not served`);
  return Number(line.split(" ")[1]);
}

describe("the worker's process metrics", () => {
  it("serve the event loop's lag under the worker's prefix, and a stall of a few hundred ms shows in it", async () => {
    const metrics = new WorkerMetrics();
    // A read starts the lag histogram over.
    await read(metrics, "darkroom_worker_nodejs_eventloop_lag_max_seconds");
    await new Promise((resolve) => setTimeout(resolve, 250));
    const until = Date.now() + 300;
    while (Date.now() < until) {
      // The event loop stands still, as a CPU-bound step of a stream would hold it.
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(await read(metrics, "darkroom_worker_nodejs_eventloop_lag_max_seconds")).toBeGreaterThanOrEqual(0.2);
    expect(await read(metrics, "darkroom_worker_process_cpu_seconds_total")).toBeGreaterThan(0);
  });
});
