import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { EVENT_LOOP_SAMPLE_MS } from "@darkroom/config";
import type { Logger } from "@darkroom/logger";
import { type CircuitSnapshot, withTimeout } from "@darkroom/queue";
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import { circuitStateValue } from "./generation/circuit";

/**
 * The worker's Prometheus metrics (per process: Prometheus sums them over the workers it scrapes),
 * served on METRICS_PORT.
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly unrecognised: Counter<"model">;

  constructor() {
    collectDefaultMetrics({
      register: this.registry,
      prefix: "darkroom_worker_",
      eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS,
    });
    this.unrecognised = new Counter({
      name: "darkroom_upstream_unrecognised_streams_total",
      help: "Upstream streams that ended with no progress marker, number or image Darkroom recognises (format drift)",
      labelNames: ["model"],
      registers: [this.registry],
    });
  }

  /** A stream ended with nothing in it the progress parser recognised; its first 2 KiB is on the attempt. */
  unrecognisedStream(model: string): void {
    this.unrecognised.inc({ model });
  }

  /**
   * Serves each model's circuit (shared by every worker, read from Redis once per scrape):
   * `darkroom_circuit_state` (0 closed, 1 open, 2 half-open) and the window's calls and failures.
   */
  watchCircuits(read: () => Promise<CircuitSnapshot[]>): void {
    let reading: Promise<CircuitSnapshot[]> | null = null;
    // The three gauges are collected together on a scrape: they share one Redis read.
    const circuits = () => {
      reading ??= withTimeout(read(), 2000, "circuits")
        .catch(() => [])
        .finally(() => {
          reading = null;
        });
      return reading;
    };
    const gauge = (name: string, help: string, value: (c: CircuitSnapshot) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ["model"],
        registers: [this.registry],
        async collect() {
          this.reset();
          for (const c of await circuits()) this.set({ model: c.model }, value(c));
        },
      });
    gauge("darkroom_circuit_state", "Each model's circuit breaker: 0 closed, 1 open, 2 half-open", (c) =>
      circuitStateValue(c.state),
    );
    gauge("darkroom_circuit_calls", "Calls to the model that ended in the circuit's window", (c) => c.calls);
    gauge("darkroom_circuit_failures", "Upstream failures among them", (c) => c.failures);
  }
}

/** Serves `GET /metrics` on `host` at `port` (0 = any free port) and logs its address. */
export async function serveMetrics(
  metrics: WorkerMetrics,
  port: number,
  host: string,
  logger: Logger,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${address.port}/metrics`;
  logger.info({ url }, "metrics listening");
  return { url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
