import { hostname } from "node:os";
import type { Env } from "@darkroom/config";
import type { CircuitSettings } from "./generation/circuit";

export interface WorkerConfig {
  env: Env;
  workerId: string;
  concurrency: number;
  upstream: {
    baseUrl: string;
    apiKey: string;
    connectTimeoutMs: number;
    firstByteTimeoutMs: number;
    idleTimeoutMs: number;
    /** Progress standing still this long abandons the stream (upstream_stalled); 0 = off. */
    progressStallMs: number;
  };
  /** `allowPrivate`: ALLOW_PRIVATE_IMAGE_URLS (plain http, any port, private addresses). */
  images: { allowlist: string[]; allowPrivate: boolean; maxBytes: number; downloadTimeoutMs: number };
  retry: { baseDelayMs: number; maxDelayMs: number; busyDelayMs: number };
  /** Port of `/metrics` (0 = any free one); null = not served. */
  metricsPort: number | null;
  /** How long a claimed job stays owned without a heartbeat. */
  leaseMs: number;
  /** Progress of all the process's attempts is written at most this often, stage changes included. */
  progressIntervalMs: number;
  /** Postgres connections of the process (DATABASE_POOL_SIZE, or sized from the concurrency). */
  databasePoolSize: number;
  /** The per-model circuit breaker (CIRCUIT_*; docs/circuit-breaker.md). */
  circuit: CircuitSettings;
}

/** The worker's settings, derived once from the parsed environment. */
export function buildWorkerConfig(env: Env): WorkerConfig {
  return {
    env,
    workerId: `${hostname()}:${process.pid}`,
    concurrency: env.WORKER_CONCURRENCY,
    upstream: {
      baseUrl: env.COMETAPI_BASE_URL.replace(/\/+$/, ""),
      // Without a key the process talks to the simulator, which accepts any non-empty key.
      apiKey: env.COMETAPI_KEY ?? "sk-darkroom-simulator",
      connectTimeoutMs: env.UPSTREAM_CONNECT_TIMEOUT_MS,
      firstByteTimeoutMs: env.UPSTREAM_FIRST_BYTE_TIMEOUT_MS,
      idleTimeoutMs: env.UPSTREAM_IDLE_TIMEOUT_MS,
      progressStallMs: env.UPSTREAM_PROGRESS_STALL_MS,
    },
    images: {
      allowlist: env.IMAGE_HOST_ALLOWLIST,
      allowPrivate: env.ALLOW_PRIVATE_IMAGE_URLS,
      maxBytes: env.IMAGE_MAX_BYTES,
      downloadTimeoutMs: 60_000,
    },
    retry: {
      baseDelayMs: env.RETRY_BASE_DELAY_MS,
      maxDelayMs: env.RETRY_MAX_DELAY_MS,
      busyDelayMs: env.UPSTREAM_BUSY_RETRY_DELAY_MS,
    },
    metricsPort: env.METRICS_PORT ?? null,
    leaseMs: env.JOB_LEASE_MS,
    progressIntervalMs: 250,
    // Each transition is one statement and progress one per tick, so a connection serves many
    // attempts; the pool queues (never fails) when all are busy. Webhook deliveries share it.
    databasePoolSize: env.DATABASE_POOL_SIZE ?? Math.min(40, 10 + Math.ceil(env.WORKER_CONCURRENCY / 100)),
    circuit: {
      windowMs: env.CIRCUIT_WINDOW_SECONDS * 1000,
      minCalls: env.CIRCUIT_MIN_CALLS,
      failureRate: env.CIRCUIT_FAILURE_RATE,
      openMs: env.CIRCUIT_OPEN_SECONDS * 1000,
      // A prober that crashed is noticed as a job owner that crashed is; a probe that outlives it
      // may see a second one, and the first to settle decides.
      probeLeaseMs: env.JOB_LEASE_MS,
    },
  };
}
