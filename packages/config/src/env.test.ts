import { describe, expect, it } from "vitest";
import {
  ConfigError,
  imageUrlSecret,
  imageUrlWebhookWindowSeconds,
  parseDurationList,
  parseEnv,
  tenantDefaults,
} from "./env";

describe("environment parsing", () => {
  it("has defaults that run on a machine with local Postgres and Redis", () => {
    const env = parseEnv({});
    expect(env).toMatchObject({
      DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/darkroom",
      REDIS_URL: "redis://127.0.0.1:6379",
      QUEUE_PREFIX: "darkroom",
      PORT: 3000,
      COMETAPI_BASE_URL: "https://api.cometapi.com",
      WORKER_CONCURRENCY: 50,
      STORAGE_DIR: "./data/images",
      ALLOW_PRIVATE_WEBHOOK_URLS: false,
      ALLOW_PRIVATE_IMAGE_URLS: false,
      UPSTREAM_IDLE_TIMEOUT_MS: 120_000,
      RETRY_BASE_DELAY_MS: 1000,
      RETRY_MAX_DELAY_MS: 30_000,
      SHUTDOWN_GRACE_MS: 10_000,
      RETENTION_DAYS: 30,
      LOG_LEVEL: "info",
    });
    expect(env.WEBHOOK_RETRY_SCHEDULE).toEqual([
      5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
    ]);
  });

  it("names every invalid variable", () => {
    try {
      parseEnv({
        PORT: "eighty",
        ALLOW_PRIVATE_WEBHOOK_URLS: "yes",
        REDIS_URL: "http://x",
        WEBHOOK_RETRY_SCHEDULE: "5s,soon",
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const vars = (error as ConfigError).issues.map((i) => i.variable).sort();
      expect(vars).toEqual(["ALLOW_PRIVATE_WEBHOOK_URLS", "PORT", "REDIS_URL", "WEBHOOK_RETRY_SCHEDULE"]);
      expect((error as Error).message).toContain('ALLOW_PRIVATE_WEBHOOK_URLS: must be "true", "false" or "loopback"');
    }
  });

  it("runs one API process unless API_PROCESSES asks for more, up to 64", () => {
    expect(parseEnv({}).API_PROCESSES).toBe(1);
    expect(parseEnv({ API_PROCESSES: "4" }).API_PROCESSES).toBe(4);
    for (const bad of ["0", "65", "two", "1.5"]) {
      expect(() => parseEnv({ API_PROCESSES: bad })).toThrow("API_PROCESSES");
    }
  });

  it("reads the circuit breaker settings with their defaults and bounds", () => {
    expect(parseEnv({})).toMatchObject({
      CIRCUIT_WINDOW_SECONDS: 60,
      CIRCUIT_MIN_CALLS: 10,
      CIRCUIT_FAILURE_RATE: 0.5,
      CIRCUIT_OPEN_SECONDS: 60,
    });
    expect(parseEnv({ CIRCUIT_FAILURE_RATE: "0.25" }).CIRCUIT_FAILURE_RATE).toBe(0.25);
    for (const bad of [{ CIRCUIT_FAILURE_RATE: "1.5" }, { CIRCUIT_MIN_CALLS: "0" }, { CIRCUIT_OPEN_SECONDS: "x" }]) {
      expect(() => parseEnv(bad)).toThrow(Object.keys(bad)[0]);
    }
  });

  it("parses booleans strictly and lists case-insensitively", () => {
    expect(parseEnv({ ALLOW_PRIVATE_WEBHOOK_URLS: "false" }).ALLOW_PRIVATE_WEBHOOK_URLS).toBe(false);
    expect(parseEnv({ ALLOW_PRIVATE_WEBHOOK_URLS: "true" }).ALLOW_PRIVATE_WEBHOOK_URLS).toBe(true);
    expect(parseEnv({ ALLOW_PRIVATE_WEBHOOK_URLS: "loopback" }).ALLOW_PRIVATE_WEBHOOK_URLS).toBe("loopback");
    expect(parseEnv({ IMAGE_HOST_ALLOWLIST: " CDN.example.com, 127.0.0.1:4010 ,," }).IMAGE_HOST_ALLOWLIST).toEqual([
      "cdn.example.com",
      "127.0.0.1:4010",
    ]);
    expect(parseEnv({ REDIS_URL: "redis://127.0.0.1:6379/5" }).REDIS_URL).toBe("redis://127.0.0.1:6379/5");
  });

  it("requires ADMIN_TOKEN in production and a sane retry range", () => {
    expect(() => parseEnv({ NODE_ENV: "production" })).toThrow(/ADMIN_TOKEN: is required in production/);
    expect(() => parseEnv({ RETRY_BASE_DELAY_MS: "5000", RETRY_MAX_DELAY_MS: "100" })).toThrow(/RETRY_MAX_DELAY_MS/);
  });

  it("requires IMAGE_URL_SECRET in production, apart from ADMIN_TOKEN; elsewhere derives the key from ADMIN_TOKEN", () => {
    const admin = "an-admin-token-0123456789";
    expect(() => parseEnv({ NODE_ENV: "production", ADMIN_TOKEN: admin })).toThrow(
      /IMAGE_URL_SECRET: is required in production/,
    );
    expect(() => parseEnv({ NODE_ENV: "production", ADMIN_TOKEN: admin, IMAGE_URL_SECRET: admin })).toThrow(
      /IMAGE_URL_SECRET: must differ from ADMIN_TOKEN/,
    );
    const production = parseEnv({
      NODE_ENV: "production",
      ADMIN_TOKEN: admin,
      IMAGE_URL_SECRET: "a-secret-of-its-own",
    });
    expect(imageUrlSecret(production)).toBe("a-secret-of-its-own");
    const development = parseEnv({ ADMIN_TOKEN: admin });
    expect(imageUrlSecret(development)).toMatch(/^[0-9a-f]{64}$/);
    expect(imageUrlSecret(development)).not.toBe(admin);
  });

  it("keeps webhook image URLs valid for the whole retry schedule plus each attempt's timeout", () => {
    // 5s+5m+30m+2h+5h+10h+10h, and eight attempts of 10 s.
    expect(imageUrlWebhookWindowSeconds(parseEnv({}))).toBe(99_305 + 80);
    const short = parseEnv({ WEBHOOK_RETRY_SCHEDULE: "3s,20s", WEBHOOK_TIMEOUT_MS: "1500" });
    expect(imageUrlWebhookWindowSeconds(short)).toBe(Math.ceil(23 + 4.5));
    expect(parseEnv({ IMAGE_URL_TTL_SECONDS: "2" }).IMAGE_URL_TTL_SECONDS).toBe(2);
    expect(() => parseEnv({ IMAGE_URL_TTL_SECONDS: "0" })).toThrow(/IMAGE_URL_TTL_SECONDS: must be at least 1/);
  });

  it("reads the events fallback poll interval, 2 s by default, within bounds", () => {
    expect(parseEnv({}).EVENTS_FALLBACK_POLL_MS).toBe(2000);
    expect(parseEnv({ EVENTS_FALLBACK_POLL_MS: "60000" }).EVENTS_FALLBACK_POLL_MS).toBe(60_000);
    expect(() => parseEnv({ EVENTS_FALLBACK_POLL_MS: "10" })).toThrow(/EVENTS_FALLBACK_POLL_MS: must be at least 100/);
  });

  it("reads the abuse limits and HTTP timeouts with their documented defaults", () => {
    expect(parseEnv({})).toMatchObject({
      MAX_STREAMS_PER_KEY: 100,
      AUTH_FAILURES_PER_MINUTE: 30,
      TRUST_PROXY: false,
      HTTP_HEADERS_TIMEOUT_MS: 20_000,
      HTTP_REQUEST_TIMEOUT_MS: 60_000,
      HTTP_KEEPALIVE_TIMEOUT_MS: 5_000,
      HTTP_MAX_CONNECTIONS: 10_000,
    });
    expect(parseEnv({ TRUST_PROXY: "true" }).TRUST_PROXY).toBe(true);
    expect(parseEnv({ TRUST_PROXY: "2" }).TRUST_PROXY).toBe(2);
    expect(parseEnv({ TRUST_PROXY: "loopback, 10.0.0.0/8" }).TRUST_PROXY).toBe("loopback, 10.0.0.0/8");
    expect(() => parseEnv({ HTTP_HEADERS_TIMEOUT_MS: "90000" })).toThrow(
      /HTTP_HEADERS_TIMEOUT_MS: must not be above HTTP_REQUEST_TIMEOUT_MS/,
    );
    expect(() => parseEnv({ MAX_STREAMS_PER_KEY: "0" })).toThrow(/MAX_STREAMS_PER_KEY: must be at least 1/);
  });

  it("reads the progress-stall watchdog, busy backoff and metrics port with their defaults", () => {
    const env = parseEnv({});
    expect(env.UPSTREAM_PROGRESS_STALL_MS).toBe(90_000);
    expect(env.UPSTREAM_BUSY_RETRY_DELAY_MS).toBe(20_000);
    expect(env.METRICS_PORT).toBeUndefined();
    const set = parseEnv({ UPSTREAM_PROGRESS_STALL_MS: "1500", UPSTREAM_BUSY_RETRY_DELAY_MS: "0", METRICS_PORT: "0" });
    expect([set.UPSTREAM_PROGRESS_STALL_MS, set.UPSTREAM_BUSY_RETRY_DELAY_MS, set.METRICS_PORT]).toEqual([1500, 0, 0]);
    expect(() => parseEnv({ UPSTREAM_PROGRESS_STALL_MS: "90s" })).toThrow(/UPSTREAM_PROGRESS_STALL_MS/);
    expect(() => parseEnv({ UPSTREAM_BUSY_RETRY_DELAY_MS: "-1" })).toThrow(/UPSTREAM_BUSY_RETRY_DELAY_MS/);
  });

  it("reads durations in ms, s, m and h", () => {
    expect(parseDurationList("250ms, 2s,1m,1h")).toEqual([250, 2000, 60_000, 3_600_000]);
  });

  it("reads tenant defaults (none means no cap, quota or budget) and the webhook secret grace", () => {
    const plain = parseEnv({});
    expect(tenantDefaults(plain)).toEqual({
      maxConcurrency: null,
      weight: 1,
      rateLimitPerMinute: 600,
      imagesPerDay: null,
      monthlyBudgetUsd: null,
    });
    expect(plain.WEBHOOK_SECRET_GRACE_HOURS).toBe(24);
    const set = parseEnv({
      TENANT_DEFAULT_MAX_CONCURRENCY: "4",
      TENANT_DEFAULT_WEIGHT: "2",
      TENANT_DEFAULT_RATE_LIMIT_PER_MINUTE: "60",
      TENANT_DEFAULT_IMAGES_PER_DAY: "0",
      TENANT_DEFAULT_MONTHLY_BUDGET_USD: "12.5",
      WEBHOOK_SECRET_GRACE_HOURS: "0.5",
    });
    expect(tenantDefaults(set)).toEqual({
      maxConcurrency: 4,
      weight: 2,
      rateLimitPerMinute: 60,
      imagesPerDay: 0,
      monthlyBudgetUsd: 12.5,
    });
    expect(set.WEBHOOK_SECRET_GRACE_HOURS).toBe(0.5);
    try {
      parseEnv({
        TENANT_DEFAULT_MAX_CONCURRENCY: "0",
        TENANT_DEFAULT_WEIGHT: "heavy",
        TENANT_DEFAULT_MONTHLY_BUDGET_USD: "-1",
        WEBHOOK_SECRET_GRACE_HOURS: "1h",
      });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).issues.map((i) => i.variable).sort()).toEqual([
        "TENANT_DEFAULT_MAX_CONCURRENCY",
        "TENANT_DEFAULT_MONTHLY_BUDGET_USD",
        "TENANT_DEFAULT_WEIGHT",
        "WEBHOOK_SECRET_GRACE_HOURS",
      ]);
    }
  });
});

describe("MODEL_PRICES", () => {
  it("defaults to the documented table, USD per image", () => {
    expect(parseEnv({}).MODEL_PRICES).toEqual({ "gpt-4o-image": 0.04, "gpt-image-1": 0.042 });
  });

  it("changes the models it names; the others keep their default price", () => {
    expect(parseEnv({ MODEL_PRICES: " gpt-image-1 = 0.05 ," }).MODEL_PRICES).toEqual({
      "gpt-4o-image": 0.04,
      "gpt-image-1": 0.05,
    });
    expect(parseEnv({ MODEL_PRICES: "gpt-4o-image=0,gpt-image-1=12.123456" }).MODEL_PRICES).toEqual({
      "gpt-4o-image": 0,
      "gpt-image-1": 12.123456,
    });
  });

  it.each([
    ["gpt-image-1", /"gpt-image-1" is not model=usd/],
    ["=0.04", /"=0.04" is not model=usd/],
    ["dall-e-3=0.04", /unknown model "dall-e-3" \(known: gpt-4o-image, gpt-image-1\)/],
    ["gpt-image-1=0.04,gpt-image-1=0.05", /gpt-image-1 is priced twice/],
    ["gpt-image-1=-1", /the price of gpt-image-1 must be USD per image as a plain decimal/],
    ["gpt-image-1=1e-3", /the price of gpt-image-1 must be/],
    ["gpt-image-1=0.0000001", /at most 6 decimal places/],
    ["gpt-image-1=1001", /at most 1000/],
    ["gpt-image-1=", /the price of gpt-image-1 must be/],
  ])("refuses %s, naming the variable and the problem", (value, message) => {
    try {
      parseEnv({ MODEL_PRICES: value });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.map((i) => i.variable)).toEqual(["MODEL_PRICES"]);
      expect((error as Error).message).toMatch(message);
    }
  });
});
