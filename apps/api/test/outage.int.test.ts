import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { parseEnv } from "@darkroom/config";
import { createPrismaClient } from "@darkroom/db";
import { ImageUrlSigner } from "@darkroom/domain";
import { createLogger } from "@darkroom/logger";
import { createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningApi, startApi } from "../src/server";
import { ADMIN_TOKEN } from "./harness";

/**
 * With Postgres or Redis gone the API answers at once and says so (503 + Retry-After), instead of
 * hanging or answering 500. Closed ports stand in for the dead services: connections are refused.
 */

const DEAD_POSTGRES = "postgresql://postgres@127.0.0.1:1/nope";
const DEAD_REDIS = "redis://127.0.0.1:1";
/** What "answers within a few seconds" means here. */
const WITHIN_MS = 6_000;

interface Timed {
  status: number;
  ms: number;
  headers: Headers;
  body: string;
}

/** The API's warnings and errors, as JSON lines. */
const logged: { msg?: string; request_id?: string; job_id?: string }[] = [];
const capture = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") logged.push(JSON.parse(line));
    done();
  },
});

async function startOn(env: Record<string, string>): Promise<{ api: RunningApi; storageDir: string }> {
  const storageDir = await mkdtemp(path.join(tmpdir(), "darkroom-outage-"));
  const api = await startApi(
    parseEnv({ NODE_ENV: "test", PORT: "0", ADMIN_TOKEN, STORAGE_DIR: storageDir, LOG_LEVEL: "warn", ...env }),
    createLogger({ name: "api", level: "warn", pretty: false, destination: capture }),
  );
  return { api, storageDir };
}

/** Closing clients of a dead service must not hold the test run either. */
async function closeWithin(api: RunningApi, ms: number): Promise<void> {
  await Promise.race([api.close(), new Promise((resolve) => setTimeout(resolve, ms).unref())]);
}

async function timed(
  base: string,
  method: string,
  pathname: string,
  options: { key?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Timed> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const started = Date.now();
  const res = await fetch(`${base}${pathname}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    // A hang fails the test with an AbortError instead of stalling it.
    signal: AbortSignal.timeout(WITHIN_MS + 2_000),
  });
  const body = await res.text();
  return { status: res.status, ms: Date.now() - started, headers: res.headers, body };
}

function expectUnavailable(res: Timed): void {
  expect(res.ms, res.body).toBeLessThan(WITHIN_MS);
  expect(res.status, res.body).toBe(503);
  expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
  expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  const problem = JSON.parse(res.body) as { code: string; status: number; request_id: string };
  expect(problem.code).toBe("service_unavailable");
  expect(problem.status).toBe(503);
  expect(problem.request_id).toMatch(/^req_/);
}

describe("Postgres unreachable", () => {
  let api: RunningApi;
  let redis: TestRedis;
  let storageDir: string;

  beforeAll(async () => {
    redis = createTestRedis("outage-pg");
    // startApi must come up without the database: it only connects on the first query.
    ({ api, storageDir } = await startOn({
      DATABASE_URL: DEAD_POSTGRES,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
    }));
  });
  afterAll(async () => {
    await closeWithin(api, 5_000);
    await redis.cleanup();
    await rm(storageDir, { recursive: true, force: true });
  });

  const jobId = "job_01J00000000000000000000000";
  const routes: [string, string, { key?: string; body?: unknown; headers?: Record<string, string> }][] = [
    ["POST", "/v1/jobs", { key: "dr_whatever", body: { prompt: "a lighthouse" } }],
    ["GET", "/v1/jobs", { key: "dr_whatever" }],
    ["GET", `/v1/jobs/${jobId}`, { key: "dr_whatever" }],
    ["GET", `/v1/jobs/${jobId}/events`, { key: "dr_whatever" }],
    ["GET", `/v1/jobs/${jobId}/events`, { key: "dr_whatever", headers: { accept: "text/event-stream" } }],
    ["POST", `/v1/jobs/${jobId}/cancel`, { key: "dr_whatever" }],
    ["POST", `/v1/jobs/${jobId}/retry`, { key: "dr_whatever" }],
    ["GET", `/v1/jobs/${jobId}/webhook-deliveries`, { key: "dr_whatever" }],
    ["GET", `/v1/jobs/${jobId}/images/0`, { key: "dr_whatever" }],
    ["POST", "/admin/api/keys", { key: ADMIN_TOKEN, body: { name: "acme" } }],
  ];

  it.each(routes)("%s %s answers 503 service_unavailable with Retry-After", async (method, pathname, options) => {
    expectUnavailable(await timed(api.url, method, pathname, options));
  });

  it("answers 503 to a correctly signed image URL (the signature is checked, the image row is not reachable)", async () => {
    const signer = new ImageUrlSigner(() => api.url, api.config.imageUrlSecret, api.config.imageUrlTtlSeconds);
    const url = new URL(signer.url(jobId, 0));
    expectUnavailable(await timed(api.url, "GET", `${url.pathname}${url.search}`));
  });

  it("still answers what needs no database: liveness, 401 without a key (before the body is validated), a wrong admin token", async () => {
    expect((await timed(api.url, "GET", "/healthz")).status).toBe(200);
    const noKey = await timed(api.url, "GET", "/v1/jobs");
    expect(noKey.status).toBe(401);
    // An invalid body without a key: authentication answers first, the body's validation is not reached.
    const invalidNoKey = await timed(api.url, "POST", "/v1/jobs", { body: { prompt: 42 } });
    expect(invalidNoKey.status, invalidNoKey.body).toBe(401);
    expect((JSON.parse(invalidNoKey.body) as { code: string }).code).toBe("unauthorized");
    const badAdmin = await timed(api.url, "POST", "/admin/api/keys", { key: "wrong", body: { name: "x" } });
    expect(badAdmin.status).toBe(401);
  });

  it("says /readyz is not ready, naming postgres, within a few seconds", async () => {
    const res = await timed(api.url, "GET", "/readyz");
    expect(res.ms).toBeLessThan(WITHIN_MS);
    expect(res.status).toBe(503);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    const body = JSON.parse(res.body) as { status: string; checks: { postgres: string; redis: string } };
    expect(body.status).toBe("not_ready");
    expect(body.checks.postgres).toMatch(/^unavailable/);
    expect(body.checks.redis).toBe("ok");
  });

  it("keeps answering 503 under a burst, without exhausting anything", async () => {
    const burst = await Promise.all(
      Array.from({ length: 30 }, () => timed(api.url, "GET", "/v1/jobs", { key: "dr_whatever" })),
    );
    for (const res of burst) expectUnavailable(res);
  });
});

describe("Redis unreachable", () => {
  let api: RunningApi;
  let db: TestDatabase;
  let storageDir: string;
  let key: string;

  beforeAll(async () => {
    db = await createTestDatabase("outage-redis");
    ({ api, storageDir } = await startOn({ DATABASE_URL: db.url, REDIS_URL: DEAD_REDIS, QUEUE_PREFIX: "outage" }));
    const created = await timed(api.url, "POST", "/admin/api/keys", { key: ADMIN_TOKEN, body: { name: "acme" } });
    expect(created.status, created.body).toBe(201);
    key = (JSON.parse(created.body) as { api_key: string }).api_key;
  });
  afterAll(async () => {
    await closeWithin(api, 5_000);
    await db.drop();
    await rm(storageDir, { recursive: true, force: true });
  });

  it("accepts a job with 202 within a few seconds and keeps it as a queued row in Postgres", async () => {
    const res = await timed(api.url, "POST", "/v1/jobs", { key, body: { prompt: "a lighthouse at dusk" } });
    expect(res.ms, res.body).toBeLessThan(WITHIN_MS);
    expect(res.status, res.body).toBe(202);
    const job = JSON.parse(res.body) as { id: string; status: string };
    expect(job.status).toBe("queued");
    // The failed enqueue is logged under the request's id, through the request's own logger.
    expect(logged.filter((line) => line.job_id === job.id)).toEqual([
      expect.objectContaining({
        msg: "enqueue failed; job left for the reconciler",
        request_id: res.headers.get("x-request-id"),
      }),
    ]);
    const again = await timed(api.url, "GET", `/v1/jobs/${job.id}`, { key });
    expect(again.status).toBe(200);
    expect((JSON.parse(again.body) as { status: string }).status).toBe("queued");
    // The row itself, read past the API: this is what the reconciler picks up once Redis is back.
    const prisma = createPrismaClient({ databaseUrl: db.url });
    try {
      const row = await prisma.job.findUnique({ where: { id: job.id }, select: { status: true, prompt: true } });
      expect(row).toEqual({ status: "queued", prompt: "a lighthouse at dusk" });
    } finally {
      await prisma.$disconnect();
    }
  });

  it("answers an idempotent replay and a listing without Redis", async () => {
    const headers = { "idempotency-key": "outage-1" };
    const first = await timed(api.url, "POST", "/v1/jobs", { key, body: { prompt: "p" }, headers });
    const second = await timed(api.url, "POST", "/v1/jobs", { key, body: { prompt: "p" }, headers });
    expect([first.status, second.status]).toEqual([202, 202]);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    const list = await timed(api.url, "GET", "/v1/jobs", { key });
    expect(list.ms).toBeLessThan(WITHIN_MS);
    expect(list.status).toBe(200);
  });

  it("cancels a queued job within a few seconds", async () => {
    const created = await timed(api.url, "POST", "/v1/jobs", { key, body: { prompt: "to cancel" } });
    const { id } = JSON.parse(created.body) as { id: string };
    const res = await timed(api.url, "POST", `/v1/jobs/${id}/cancel`, { key });
    expect(res.ms, res.body).toBeLessThan(WITHIN_MS);
    expect(res.status, res.body).toBe(200);
    expect((JSON.parse(res.body) as { status: string }).status).toBe("canceled");
    const retried = await timed(api.url, "POST", `/v1/jobs/${id}/retry`, { key });
    expect(retried.ms, retried.body).toBeLessThan(WITHIN_MS);
    expect(retried.status, retried.body).toBe(202);
  });

  it("honours Prefer: wait and streams a terminal job's events without Redis (listeners poll Postgres)", async () => {
    const created = await timed(api.url, "POST", "/v1/jobs", { key, body: { prompt: "watched" } });
    const { id } = JSON.parse(created.body) as { id: string };
    // Nothing finishes the job: the answer comes when the wait runs out, polled from Postgres alone.
    const waited = await timed(api.url, "GET", `/v1/jobs/${id}`, { key, headers: { prefer: "wait=1" } });
    expect(waited.ms, waited.body).toBeGreaterThanOrEqual(950);
    expect(waited.ms, waited.body).toBeLessThan(WITHIN_MS);
    expect(waited.status, waited.body).toBe(202);
    expect(waited.headers.get("preference-applied")).toBe("wait=1");
    expect((JSON.parse(waited.body) as { status: string }).status).toBe("queued");
    await timed(api.url, "POST", `/v1/jobs/${id}/cancel`, { key });
    const sse = await timed(api.url, "GET", `/v1/jobs/${id}/events`, { key, headers: { accept: "text/event-stream" } });
    expect(sse.ms).toBeLessThan(WITHIN_MS);
    expect(sse.body).toContain("event: job.canceled");
  });

  it("says /readyz is not ready, naming redis, within a few seconds", async () => {
    const res = await timed(api.url, "GET", "/readyz");
    expect(res.ms).toBeLessThan(WITHIN_MS);
    expect(res.status).toBe(503);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    const body = JSON.parse(res.body) as { status: string; checks: { postgres: string; redis: string } };
    expect(body.status).toBe("not_ready");
    expect(body.checks.postgres).toBe("ok");
    expect(body.checks.redis).toMatch(/^unavailable/);
  });
});
