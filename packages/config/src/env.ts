import { createHmac } from "node:crypto";
import { z } from "zod";
import { DEFAULT_MODEL_PRICES_TEXT, parseModelPrices } from "./model-prices";

/** Strict boolean: only "true" and "false" (never z.coerce.boolean, which takes "false" as true). */
const bool = (fallback: boolean) =>
  z
    .enum(["true", "false"], { error: 'must be "true" or "false"' })
    .default(fallback ? "true" : "false")
    .transform((v) => v === "true");

/** A whole number within [min, max], from its decimal digits. */
const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { error: "must be a whole number" })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, { error: `must be at least ${min}` })
        .max(max, { error: `must be at most ${max}` }),
    );

const int = (fallback: number, min: number, max: number) => wholeNumber(min, max).default(fallback);

/** A whole number with no default: unset means "none". */
const optionalInt = (min: number, max: number) => wholeNumber(min, max).optional();

/** A non-negative decimal such as `0.5` or `250`. */
const decimal = (max: number) =>
  z
    .string()
    .regex(/^\d+(\.\d+)?$/, { error: "must be a non-negative number such as 12 or 0.5" })
    .transform(Number)
    .pipe(z.number().max(max, { error: `must be at most ${max}` }));

const url = (protocols: string[], fallback?: string) => {
  const schema = z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { error: `must be a ${protocols.map((p) => p.replace(":", "")).join(" or ")} URL` },
  );
  return fallback === undefined ? schema : schema.default(fallback);
};

const list = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((v) =>
      v
        .split(",")
        .map((s) => s.trim().toLowerCase())
        .filter((s) => s !== ""),
    );

/** `5s,5m,30m,2h` -> milliseconds. */
export function parseDurationList(value: string): number[] {
  return value.split(",").map((part) => {
    const m = /^\s*(\d+)\s*(ms|s|m|h)\s*$/.exec(part);
    if (!m) throw new Error(`"${part.trim()}" is not a duration like 500ms, 5s, 5m or 2h`);
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
    return Number(m[1]) * unit;
  });
}

/** A value parsed by `parse`, whose error message becomes the variable's issue. */
const parsed = <T>(fallback: string, parse: (value: string) => T) =>
  z
    .string()
    .default(fallback)
    .transform((v, ctx) => {
      try {
        return parse(v);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: (error as Error).message });
        return z.NEVER;
      }
    });

const durationList = (fallback: string) => parsed(fallback, parseDurationList);

/** Every variable of design section 6, with its default. */
export const EnvSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  DATABASE_URL: url(["postgresql:", "postgres:"], "postgresql://postgres@127.0.0.1:5432/darkroom"),
  /** Postgres connections per process; unset: the API 20, a worker sized from its concurrency. */
  DATABASE_POOL_SIZE: optionalInt(1, 1000),
  REDIS_URL: url(["redis:", "rediss:"], "redis://127.0.0.1:6379"),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_{}:-]+$/, { error: "may hold only letters, digits, _ - : { }" })
    .default("darkroom"),
  PORT: int(3000, 0, 65535),
  /** API processes sharing PORT (node:cluster): 1 runs the API in the one process started. */
  API_PROCESSES: int(1, 1, 64),
  HOST: z.string().default("127.0.0.1"),
  PUBLIC_BASE_URL: url(["http:", "https:"]).optional(),
  ADMIN_TOKEN: z.string().min(16, { error: "must be at least 16 characters" }).optional(),
  /** The HMAC key of signed image URLs: required in production; elsewhere derived from ADMIN_TOKEN when unset. */
  IMAGE_URL_SECRET: z.string().min(16, { error: "must be at least 16 characters" }).optional(),
  /** Signed image URLs in API answers live at least this long (URLs in webhook bodies longer: see imageUrlWebhookWindowSeconds). */
  IMAGE_URL_TTL_SECONDS: int(3600, 1, 7 * 24 * 3600),
  COMETAPI_BASE_URL: url(["http:", "https:"], "https://api.cometapi.com"),
  COMETAPI_KEY: z.string().min(1, { error: "must not be empty" }).optional(),
  /** Where `npm start` runs the upstream simulator when COMETAPI_KEY is unset. */
  SIMULATOR_PORT: int(4010, 1, 65535),
  WORKER_CONCURRENCY: int(50, 1, 20_000),
  STORAGE_DIR: z.string().min(1).default("./data/images"),
  WEBHOOK_RETRY_SCHEDULE: durationList("5s,5m,30m,2h,5h,10h,10h"),
  /**
   * Webhook URLs (and the addresses they connect to) that are not public: `true` all of them
   * (development and tests), `loopback` only this machine (127.0.0.0/8, ::1, `localhost`: what
   * `npm start` uses in development when this is unset), `false` none.
   */
  ALLOW_PRIVATE_WEBHOOK_URLS: z
    .enum(["true", "false", "loopback"], { error: 'must be "true", "false" or "loopback"' })
    .default("false")
    .transform((v): boolean | "loopback" => (v === "loopback" ? v : v === "true")),
  /** Bound on one webhook attempt: connect, headers and body (design section 4: 10 s). */
  WEBHOOK_TIMEOUT_MS: int(10_000, 100, 600_000),
  /** Webhook attempts one worker process sends at once. */
  WEBHOOK_CONCURRENCY: int(20, 1, 10_000),
  /**
   * Webhook attempts in flight at once to one receiver (a tenant's URL origin), over every worker
   * process; deliveries beyond it wait their turn without using up an attempt.
   */
  WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT: int(5, 1, 100_000),
  /** Webhook attempts in flight at once for one tenant, all its receivers together, over every worker. */
  WEBHOOK_MAX_IN_FLIGHT_PER_TENANT: int(10, 1, 100_000),
  /** `POST /v1/webhook-deliveries/{id}/redeliver` calls one tenant may make per minute, over every API process. */
  WEBHOOK_REDELIVERIES_PER_MINUTE: int(60, 1, 1_000_000),
  IMAGE_HOST_ALLOWLIST: list("filesystem.site,*.filesystem.site"),
  /**
   * Result-image downloads may use plain http, any port of an allowed host and loopback/private
   * addresses (development, tests and the simulator); otherwise https, port 443 unless the allowlist
   * entry names one, and only public addresses, as webhooks.
   */
  ALLOW_PRIVATE_IMAGE_URLS: bool(false),
  IMAGE_MAX_BYTES: int(50 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  UPSTREAM_CONNECT_TIMEOUT_MS: int(10_000, 100, 600_000),
  UPSTREAM_FIRST_BYTE_TIMEOUT_MS: int(60_000, 100, 3_600_000),
  UPSTREAM_IDLE_TIMEOUT_MS: int(120_000, 100, 3_600_000),
  /**
   * How often a worker asks the upstream for its key's remaining quota (`GET /api/usage/token`),
   * when COMETAPI_KEY is set; 0 turns the quota guard off.
   */
  UPSTREAM_QUOTA_POLL_SECONDS: int(300, 0, 86_400),
  /** Below this remaining quota (the upstream's units: new-api counts 500,000 per US dollar) a warning is logged and shown. */
  UPSTREAM_QUOTA_WARN: int(500_000, 0, Number.MAX_SAFE_INTEGER),
  /**
   * An attempt whose progress (percent or stage) has not moved for this long is abandoned as
   * `upstream_stalled`, however many bytes (keep-alive comments, dots) still arrive. 0 = off.
   */
  UPSTREAM_PROGRESS_STALL_MS: int(90_000, 0, 3_600_000),
  /**
   * First wait before calling again after the image service said it was busy (`upstream_busy`);
   * doubles on each busy answer in a row, capped at max(RETRY_MAX_DELAY_MS, this).
   */
  UPSTREAM_BUSY_RETRY_DELAY_MS: int(20_000, 0, 3_600_000),
  /** Port of the worker's Prometheus `/metrics` (0 = any free port, logged at start); unset = none. */
  METRICS_PORT: optionalInt(0, 65535),
  /** Per-model circuit breaker (docs/circuit-breaker.md): the sliding window of call outcomes. */
  CIRCUIT_WINDOW_SECONDS: int(60, 1, 3600),
  /** Calls that must have ended in the window before the failure rate can open the circuit. */
  CIRCUIT_MIN_CALLS: int(10, 1, 1_000_000),
  /** The circuit opens when the share of upstream failures in the window is above this (0..1). */
  CIRCUIT_FAILURE_RATE: decimal(1).default(0.5),
  /** How long an open circuit sends new attempts straight to the fallback before one probe call. */
  CIRCUIT_OPEN_SECONDS: int(60, 1, 3600),
  RETRY_BASE_DELAY_MS: int(1000, 0, 3_600_000),
  RETRY_MAX_DELAY_MS: int(30_000, 0, 3_600_000),
  SHUTDOWN_GRACE_MS: int(10_000, 0, 600_000),
  /** Interval of `: keep-alive` comments on idle event streams. */
  SSE_KEEPALIVE_MS: int(15_000, 100, 600_000),
  /**
   * How often event streams and `Prefer: wait` re-read Postgres in case a Redis wake-up was lost;
   * events normally arrive through Redis pub/sub long before this.
   */
  EVENTS_FALLBACK_POLL_MS: int(2_000, 100, 600_000),
  RETENTION_DAYS: int(30, 1, 36500),
  /** How long a claimed job stays owned without a heartbeat (also BullMQ's lock duration). */
  JOB_LEASE_MS: int(30_000, 1000, 600_000),
  /** /readyz fails when jobs have waited this long and no attempt started meanwhile (stopped workers). */
  READY_STALL_SECONDS: int(120, 5, 86_400),
  /** How often the reconciler looks for jobs with no work in flight and for missed deadlines. */
  RECONCILE_INTERVAL_MS: int(5_000, 200, 600_000),
  /** Settings given to tenants created from now on (existing tenants keep theirs). */
  TENANT_DEFAULT_MAX_CONCURRENCY: optionalInt(1, 100_000),
  TENANT_DEFAULT_WEIGHT: int(1, 1, 1000),
  TENANT_DEFAULT_RATE_LIMIT_PER_MINUTE: int(600, 1, 1_000_000),
  TENANT_DEFAULT_IMAGES_PER_DAY: optionalInt(0, 100_000_000),
  TENANT_DEFAULT_MONTHLY_BUDGET_USD: decimal(1_000_000_000).optional(),
  /** USD per stored image by model (`model=usd,…`): usage figures and monthly budgets are estimated with it. */
  MODEL_PRICES: parsed(DEFAULT_MODEL_PRICES_TEXT, parseModelPrices),
  /** After a webhook secret rotation, webhooks are signed with the previous secret too for this long. */
  WEBHOOK_SECRET_GRACE_HOURS: decimal(24 * 365).default(24),
  /** Live event streams plus `Prefer: wait` requests one API key may hold at once, over every API process. */
  MAX_STREAMS_PER_KEY: int(100, 1, 1_000_000),
  /** Wrong API keys or admin tokens one client address may present per minute before it is refused. */
  AUTH_FAILURES_PER_MINUTE: int(30, 1, 1_000_000),
  /**
   * Express `trust proxy`: `false` (the socket's address is the client), `true`, a hop count, or a
   * comma-separated list of proxy addresses/subnets whose `X-Forwarded-For` is believed.
   */
  TRUST_PROXY: z
    .string()
    .default("false")
    .transform((v): boolean | number | string =>
      v === "true" ? true : v === "false" ? false : /^\d+$/.test(v) ? Number(v) : v,
    ),
  /** Time a client has to send the request's headers. */
  HTTP_HEADERS_TIMEOUT_MS: int(20_000, 100, 3_600_000),
  /** Time a client has to send the whole request (headers and body); never cuts a response such as an event stream. */
  HTTP_REQUEST_TIMEOUT_MS: int(60_000, 100, 3_600_000),
  /** How long an idle keep-alive connection stays open between requests. */
  HTTP_KEEPALIVE_TIMEOUT_MS: int(5_000, 100, 3_600_000),
  /** Open connections per API process; beyond it new connections are closed at once. */
  HTTP_MAX_CONNECTIONS: int(10_000, 1, 1_000_000),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** Test-only fault hooks for the chaos suite; refused unless NODE_ENV=test. */
  TEST_FAULT: z
    .enum(["kill_after_commit", "kill_after_admit"], { error: "must be kill_after_commit or kill_after_admit" })
    .optional(),
});
export type Env = z.infer<typeof EnvSchema>;

/** A variable that failed validation, named so that the operator knows what to fix. */
export class ConfigError extends Error {
  readonly issues: { variable: string; message: string }[];
  constructor(issues: { variable: string; message: string }[]) {
    super(`Invalid configuration:\n${issues.map((i) => `  ${i.variable}: ${i.message}`).join("\n")}`);
    this.name = "ConfigError";
    this.issues = issues;
  }
}

/** Parses an environment (blank values count as unset). Throws ConfigError naming every bad variable. */
export function parseEnv(source: Record<string, string | undefined>): Env {
  const cleaned: Record<string, string> = {};
  for (const [key, value] of Object.entries(source)) {
    if (value !== undefined && value.trim() !== "") cleaned[key] = value;
  }
  const result = EnvSchema.safeParse(cleaned);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => ({ variable: String(issue.path[0] ?? "?"), message: issue.message })),
    );
  }
  const env = result.data;
  if (env.RETRY_MAX_DELAY_MS < env.RETRY_BASE_DELAY_MS) {
    throw new ConfigError([{ variable: "RETRY_MAX_DELAY_MS", message: "must not be below RETRY_BASE_DELAY_MS" }]);
  }
  if (env.HTTP_HEADERS_TIMEOUT_MS > env.HTTP_REQUEST_TIMEOUT_MS) {
    // Node refuses to start a server with a headers timeout above its request timeout.
    throw new ConfigError([
      { variable: "HTTP_HEADERS_TIMEOUT_MS", message: "must not be above HTTP_REQUEST_TIMEOUT_MS" },
    ]);
  }
  if (env.TEST_FAULT !== undefined && env.NODE_ENV !== "test") {
    throw new ConfigError([{ variable: "TEST_FAULT", message: "is only allowed with NODE_ENV=test" }]);
  }
  if (env.NODE_ENV === "production" && env.ADMIN_TOKEN === undefined) {
    throw new ConfigError([{ variable: "ADMIN_TOKEN", message: "is required in production" }]);
  }
  if (env.NODE_ENV === "production" && env.IMAGE_URL_SECRET === undefined) {
    // A key of its own: whoever learns it can sign image links, nothing more; and rotating the
    // admin token does not silently invalidate every link (or keep old ones valid).
    throw new ConfigError([
      {
        variable: "IMAGE_URL_SECRET",
        message:
          "is required in production (the key of signed image URLs, 16+ characters, the same for API and worker processes; it is not derived from ADMIN_TOKEN there)",
      },
    ]);
  }
  if (env.IMAGE_URL_SECRET !== undefined && env.IMAGE_URL_SECRET === env.ADMIN_TOKEN) {
    throw new ConfigError([{ variable: "IMAGE_URL_SECRET", message: "must differ from ADMIN_TOKEN" }]);
  }
  return env;
}

/**
 * The key that signs image URLs, shared by every process that renders a job (the API, and the
 * worker for webhook bodies): IMAGE_URL_SECRET, else (never in production, where it is required)
 * derived from ADMIN_TOKEN; null without either.
 */
export function imageUrlSecret(env: Env): string | null {
  if (env.IMAGE_URL_SECRET !== undefined) return env.IMAGE_URL_SECRET;
  if (env.ADMIN_TOKEN === undefined) return null;
  return createHmac("sha256", env.ADMIN_TOKEN).update("darkroom image urls").digest("hex");
}

/**
 * How much longer than IMAGE_URL_TTL_SECONDS the image URLs in a webhook body live: the whole retry
 * schedule, plus each attempt's timeout. The body is built at the first attempt and sent verbatim by
 * every retry, so its links must still work at the last one. API and worker processes must agree on
 * it (the API refuses URLs that expire further ahead than any signed).
 */
export function imageUrlWebhookWindowSeconds(env: Env): number {
  const schedule = env.WEBHOOK_RETRY_SCHEDULE;
  const totalMs = schedule.reduce((sum, ms) => sum + ms, 0) + (schedule.length + 1) * env.WEBHOOK_TIMEOUT_MS;
  return Math.ceil(totalMs / 1000);
}

/** The settings of a tenant: the stored form, shared by the environment defaults and the admin API. */
export interface TenantSettings {
  /** Jobs of the tenant running at once across all workers; null = no cap. */
  maxConcurrency: number | null;
  /** Share of capacity when workers are saturated (at least 1). */
  weight: number;
  /** Requests per minute per API key. */
  rateLimitPerMinute: number;
  /** Images per day; null = no quota. */
  imagesPerDay: number | null;
  /** Estimated spend per calendar month in USD; null = no budget. */
  monthlyBudgetUsd: number | null;
}

/** The settings a new tenant gets unless its creation names others (the `TENANT_DEFAULT_*` variables). */
export function tenantDefaults(env: Env): TenantSettings {
  return {
    maxConcurrency: env.TENANT_DEFAULT_MAX_CONCURRENCY ?? null,
    weight: env.TENANT_DEFAULT_WEIGHT,
    rateLimitPerMinute: env.TENANT_DEFAULT_RATE_LIMIT_PER_MINUTE,
    imagesPerDay: env.TENANT_DEFAULT_IMAGES_PER_DAY ?? null,
    monthlyBudgetUsd: env.TENANT_DEFAULT_MONTHLY_BUDGET_USD ?? null,
  };
}

/** The base of URLs the API is reached at. */
export function publicBaseUrl(env: Env): string {
  return (env.PUBLIC_BASE_URL ?? `http://127.0.0.1:${env.PORT}`).replace(/\/+$/, "");
}

/** Reads `process.env` once. The only place in the codebase that touches it. */
export function loadEnv(): Env {
  return parseEnv(process.env);
}

/** Like loadEnv, but prints the problem and exits, as every process entry point should. */
export function loadEnvOrExit(): Env {
  try {
    return loadEnv();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }
}
