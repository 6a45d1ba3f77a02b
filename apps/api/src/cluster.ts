// API_PROCESSES > 1: one primary process forks that many API processes, which share PORT through
// node:cluster (the primary accepts connections and hands them out in turn). The primary serves no
// request itself: it migrates, keeps the processes running, stops them together and answers their
// /metrics with the sum over all of them.
import cluster, { type Worker } from "node:cluster";
import type { Env } from "@darkroom/config";
import type { Logger } from "@darkroom/logger";
import { AggregatorRegistry, type Registry } from "prom-client";
import { buildApiConfig, printGeneratedAdminToken } from "./config";

const LISTENING = "darkroom:api-listening";
const METRICS_REQUEST = "darkroom:metrics-request";
const METRICS_RESPONSE = "darkroom:metrics-response";
/** An answer to a metrics request slower than this fails the scrape (prom-client's own bound is 5 s). */
const METRICS_TIMEOUT_MS = 6_000;

type Message =
  | { type: typeof LISTENING; url: string }
  | { type: typeof METRICS_REQUEST; id: number }
  | { type: typeof METRICS_RESPONSE; id: number; text?: string; error?: string };

function isMessage(value: unknown): value is Message {
  return typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string";
}

/** True in an API process started by the primary of {@link runApiPrimary}. */
export function isApiClusterProcess(): boolean {
  return cluster.isWorker;
}

/**
 * Runs the primary of `env.API_PROCESSES` API processes until a signal stops them all (exit 0 when
 * every one closed cleanly, 1 otherwise). A process that fails before it listens (a port in use, a
 * bad setting) stops the others and the primary exits 1; one that dies later is replaced.
 */
export function runApiPrimary(env: Env, logger: Logger): void {
  const size = env.API_PROCESSES;
  // One admin token for every process: a token made up by each would let a request in at one
  // process and not at the next (development only; production requires ADMIN_TOKEN).
  const config = buildApiConfig(env);
  const forkEnv = { ADMIN_TOKEN: config.adminToken };
  const aggregator = new AggregatorRegistry();
  const listening = new Set<Worker>();
  let announced = false;
  let stopping = false;
  let failed = false;

  const fork = () => {
    const worker = cluster.fork(forkEnv);
    worker.on("message", (message: unknown) => {
      if (!isMessage(message)) return;
      if (message.type === LISTENING) {
        listening.add(worker);
        if (!announced && listening.size === size) {
          announced = true;
          logger.info({ url: message.url, processes: size }, "api listening");
          printGeneratedAdminToken(config);
        }
      } else if (message.type === METRICS_REQUEST) {
        aggregator.clusterMetrics().then(
          (text) => worker.isConnected() && worker.send({ type: METRICS_RESPONSE, id: message.id, text }),
          (error: Error) =>
            worker.isConnected() && worker.send({ type: METRICS_RESPONSE, id: message.id, error: error.message }),
        );
      }
    });
  };

  const remaining = () => Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, processes: remaining().length }, "api stopping");
    if (remaining().length === 0) process.exit(failed ? 1 : 0);
    for (const worker of remaining()) worker.process.kill("SIGTERM");
    // Each process bounds its own close by SHUTDOWN_GRACE_MS; this only catches one that hangs past it.
    setTimeout(() => {
      logger.error({ grace_ms: env.SHUTDOWN_GRACE_MS }, "an api process outlived the shutdown grace; killing it");
      for (const worker of remaining()) worker.process.kill("SIGKILL");
      process.exit(1);
    }, env.SHUTDOWN_GRACE_MS + 2_000).unref();
  };

  // node:cluster has removed the process from cluster.workers when this runs.
  cluster.on("exit", (worker, code, signal) => {
    const wasListening = listening.delete(worker);
    if (stopping) {
      if (code !== 0 || signal !== null) failed = true;
      if (remaining().length === 0) process.exit(failed ? 1 : 0);
    } else if (!wasListening) {
      failed = true;
      logger.error(
        { api_process: worker.process.pid, code, signal },
        "an api process failed to start; stopping the others",
      );
      stop("startup failure");
    } else {
      logger.error({ api_process: worker.process.pid, code, signal }, "an api process exited; starting another");
      fork();
    }
  });
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  for (let i = 0; i < size; i++) fork();
}

/** Tells the primary this process listens (its log line says "api listening" once all do). */
export function announceListening(url: string): void {
  process.send?.({ type: LISTENING, url });
}

let nextRequest = 0;
const pending = new Map<number, { resolve(text: string): void; reject(error: Error): void }>();

/**
 * Lets the primary collect `registry` from this process, and returns what a scrape of this process
 * answers: the metrics of every API process, each counter and histogram summed over them.
 */
export function clusterMetrics(registry: Registry): () => Promise<string> {
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry(); // answers the primary's collection requests from now on
  process.on("message", (message: unknown) => {
    if (!isMessage(message) || message.type !== METRICS_RESPONSE) return;
    const request = pending.get(message.id);
    if (request === undefined) return;
    pending.delete(message.id);
    if (message.text !== undefined) request.resolve(message.text);
    else request.reject(new Error(`metrics of the api processes: ${message.error ?? "no answer"}`));
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = nextRequest++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error("metrics of the api processes: the primary did not answer"));
      }, METRICS_TIMEOUT_MS);
      pending.set(id, {
        resolve: (text) => {
          clearTimeout(timer);
          resolve(text);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      process.send?.({ type: METRICS_REQUEST, id });
    });
}
