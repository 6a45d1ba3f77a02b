import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "@darkroom/logger";
import { Counter, collectDefaultMetrics, Registry } from "prom-client";

/**
 * The worker's Prometheus metrics (per process: Prometheus sums them over the workers it scrapes),
 * served on METRICS_PORT.
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly unrecognised: Counter<"model">;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "darkroom_worker_" });
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
