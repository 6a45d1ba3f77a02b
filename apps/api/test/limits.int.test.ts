import { createPrismaClient, type PrismaClient } from "@darkroom/db";
import { TEST_REDIS_URL } from "@darkroom/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningApi } from "../src/server";
import { ADMIN_TOKEN, type ApiHarness, startApiHarness } from "./harness";

/**
 * The limits that keep one client from starving the others, each over two API processes sharing
 * Postgres and Redis: the per-key cap on live event streams and `Prefer: wait` requests, and the
 * per-address limit on failed authentications.
 */

const STREAM_CAP = 3;
const AUTH_LIMIT = 5;

interface Problem {
  code: string;
  detail: string;
  limit?: { name: string; value: number };
}

/** Polls `probe` until it returns true or the deadline passes. */
async function eventually(probe: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

describe("stream cap per API key", () => {
  let h: ApiHarness;
  let second: RunningApi;
  let db: PrismaClient;
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  const open: AbortController[] = [];

  beforeAll(async () => {
    const env = { MAX_STREAMS_PER_KEY: String(STREAM_CAP) };
    h = await startApiHarness("stream-cap", env);
    second = await h.addApi(env);
    db = createPrismaClient({ databaseUrl: h.databaseUrl });
  });
  afterAll(async () => {
    for (const controller of open) controller.abort();
    redis.disconnect();
    await db?.$disconnect();
    await h?.close();
  });

  /** Opens an event stream; the answer's status is known once the server sent its headers. */
  const stream = async (base: string, key: string, jobId: string) => {
    const controller = new AbortController();
    open.push(controller);
    const res = await fetch(`${base}/v1/jobs/${jobId}/events`, {
      headers: { authorization: `Bearer ${key}`, accept: "text/event-stream" },
      signal: controller.signal,
    });
    return { res, close: () => controller.abort() };
  };

  it("holds N streams split over two processes, refuses the next stream and Prefer: wait, spares other keys, frees on close", async () => {
    const a = await h.newTenant("a");
    const b = await h.newTenant("b");
    // No worker runs in this harness, so the jobs stay queued and their streams stay open.
    const created = await h.request("POST", "/v1/jobs", { key: a.apiKey, body: { prompt: "stays queued" } });
    expect(created.status).toBe(202);
    const { id } = (await created.json()) as { id: string };
    const createdB = await h.request("POST", "/v1/jobs", { key: b.apiKey, body: { prompt: "b's" } });
    const { id: idB } = (await createdB.json()) as { id: string };

    const held = [
      await stream(h.url, a.apiKey, id),
      await stream(second.url, a.apiKey, id),
      await stream(second.url, a.apiKey, id),
    ];
    expect(held.map((s) => s.res.status)).toEqual([200, 200, 200]);

    const refused = await stream(h.url, a.apiKey, id);
    expect(refused.res.status).toBe(429);
    expect(refused.res.headers.get("content-type")).toContain("application/problem+json");
    expect(Number(refused.res.headers.get("retry-after"))).toBeGreaterThan(0);
    const problem = (await refused.res.json()) as Problem;
    expect(problem.code).toBe("rate_limited");
    expect(problem.limit).toEqual({ name: "max_streams_per_key", value: STREAM_CAP });
    expect(problem.detail).toContain("MAX_STREAMS_PER_KEY");

    const wait = await fetch(`${second.url}/v1/jobs/${id}`, {
      headers: { authorization: `Bearer ${a.apiKey}`, prefer: "wait=5" },
    });
    expect(wait.status).toBe(429);
    expect(wait.headers.get("retry-after")).not.toBeNull();
    const waitCreate = await fetch(`${h.url}/v1/jobs`, {
      method: "POST",
      headers: { authorization: `Bearer ${a.apiKey}`, prefer: "wait=5", "content-type": "application/json" },
      body: JSON.stringify({ prompt: "would wait" }),
    });
    expect(waitCreate.status).toBe(429);
    // Requests that hold nothing are not limited.
    expect((await h.request("GET", `/v1/jobs/${id}`, { key: a.apiKey })).status).toBe(200);

    const other = await stream(second.url, b.apiKey, idB);
    expect(other.res.status).toBe(200);
    other.close();

    held[0]?.close();
    const freed = await eventually(async () => {
      const next = await stream(second.url, a.apiKey, id);
      return next.res.status === 200;
    });
    expect(freed).toBe(true);
  });

  it("frees a Prefer: wait slot as soon as its client goes away", async () => {
    const c = await h.newTenant("c");
    const created = await h.request("POST", "/v1/jobs", { key: c.apiKey, body: { prompt: "stays queued" } });
    const { id } = (await created.json()) as { id: string };
    const held = [await stream(h.url, c.apiKey, id), await stream(second.url, c.apiKey, id)];
    expect(held.map((s) => s.res.status)).toEqual([200, 200]);
    const waiter = new AbortController();
    const waiting = fetch(`${second.url}/v1/jobs/${id}`, {
      headers: { authorization: `Bearer ${c.apiKey}`, prefer: "wait=60" },
      signal: waiter.signal,
    }).catch(() => null);
    // The wait holds the last slot once the key's count in Redis says so (a probing stream could
    // take that slot itself and get the wait refused).
    const [row] = await db.apiKey.findMany({ where: { tenantId: c.tenantId }, select: { id: true } });
    const slots = `${h.redisPrefix}:streams:${row?.id}`;
    expect(await eventually(async () => (await redis.zcard(slots)) === STREAM_CAP)).toBe(true);
    expect((await stream(h.url, c.apiKey, id)).res.status).toBe(429);
    waiter.abort();
    await waiting;
    // Long before the 60 s wait would have ended.
    const freed = await eventually(async () => {
      const next = await stream(h.url, c.apiKey, id);
      if (next.res.status === 200) next.close();
      return next.res.status === 200;
    }, 8_000);
    expect(freed).toBe(true);
  });
});

describe("failed authentications per client address", () => {
  let h: ApiHarness;
  let second: RunningApi;

  beforeAll(async () => {
    const env = { AUTH_FAILURES_PER_MINUTE: String(AUTH_LIMIT) };
    h = await startApiHarness("auth-limit", env);
    second = await h.addApi(env);
  });
  afterAll(async () => {
    await h?.close();
  });

  const get = (base: string, pathname: string, token: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${pathname}`, { headers: { authorization: `Bearer ${token}`, ...headers } });

  it("after the limit of wrong keys and tokens over two processes, refuses the address even with a correct key", async () => {
    const tenant = await h.newTenant("t");
    expect((await get(h.url, "/v1/jobs", tenant.apiKey)).status).toBe(200);

    const wrong = [
      await get(h.url, "/v1/jobs", "dr_wrong_key_1"),
      await get(second.url, "/v1/jobs", "dr_wrong_key_2"),
      await get(h.url, "/admin/api/tenants", "wrong-admin-token-000000000"),
      await get(second.url, "/admin/api/tenants", "wrong-admin-token-111111111"),
      // X-Forwarded-For is not believed without TRUST_PROXY: a spoofed address changes nothing.
      await get(second.url, "/v1/jobs", "dr_wrong_key_3", { "x-forwarded-for": "203.0.113.9" }),
    ];
    expect(wrong.map((r) => r.status)).toEqual([401, 401, 401, 401, 401]);

    for (const [base, pathname, token] of [
      [h.url, "/v1/jobs", tenant.apiKey],
      [second.url, "/v1/jobs", "dr_wrong_key_4"],
      [second.url, "/admin/api/keys", ADMIN_TOKEN],
    ] as const) {
      const res = await get(base, pathname, token, { "x-forwarded-for": "198.51.100.7" });
      expect(res.status, `${pathname} with ${token}`).toBe(429);
      const retryAfter = Number(res.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(60);
      const problem = (await res.json()) as Problem;
      expect(problem.code).toBe("rate_limited");
      expect(problem.limit).toEqual({ name: "auth_failures_per_minute", value: AUTH_LIMIT });
    }
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${second.url}/healthz`)).status).toBe(200);
  });
});

describe("failed authentications behind a trusted proxy", () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiHarness("auth-proxy", { AUTH_FAILURES_PER_MINUTE: "2", TRUST_PROXY: "true" });
  });
  afterAll(async () => {
    await h?.close();
  });

  it("counts each forwarded client address on its own", async () => {
    const tenant = await h.newTenant("t");
    const as = (address: string, key: string) =>
      h.request("GET", "/v1/jobs", { key, headers: { "x-forwarded-for": address } });
    expect((await as("203.0.113.1", "dr_wrong_1")).status).toBe(401);
    expect((await as("203.0.113.1", "dr_wrong_2")).status).toBe(401);
    expect((await as("203.0.113.1", tenant.apiKey)).status).toBe(429);
    expect((await as("203.0.113.2", tenant.apiKey)).status).toBe(200);
  });
});

describe("request rate limit per API key", () => {
  const LIMIT = 5;
  let h: ApiHarness;
  let second: RunningApi;
  beforeAll(async () => {
    h = await startApiHarness("key-rate");
    second = await h.addApi();
  });
  afterAll(async () => {
    await h?.close();
  });

  it("accepts rate_limit_per_minute requests over two processes, refuses the rest with RateLimit headers, spares other keys", async () => {
    const a = await h.newTenant("a");
    const b = await h.newTenant("b");
    const patched = await h.request("PATCH", `/admin/api/tenants/${a.tenantId}`, {
      key: ADMIN_TOKEN,
      body: { rate_limit_per_minute: LIMIT },
    });
    expect(patched.status).toBe(200);

    const started = Date.now();
    const answers: Response[] = [];
    for (let i = 0; i < 3 * LIMIT; i++) {
      const base = i % 2 === 0 ? h.url : second.url;
      answers.push(await fetch(`${base}/v1/jobs`, { headers: { authorization: `Bearer ${a.apiKey}` } }));
    }
    const elapsed = Date.now() - started;
    const accepted = answers.filter((r) => r.status === 200);
    const refused = answers.filter((r) => r.status === 429);
    expect(accepted.length + refused.length).toBe(answers.length);
    // The window is fixed and began with the first request: unless the run outlasted it (it takes
    // well under a second unloaded), exactly the limit is accepted; a rollover adds at most one window's worth.
    const firstReset = Number(/;t=(\d+)/.exec(answers[0]?.headers.get("ratelimit") ?? "")?.[1]);
    expect(firstReset).toBeGreaterThan(0);
    if (elapsed < (firstReset - 1) * 1000) expect(accepted.length).toBe(LIMIT);
    else expect(accepted.length).toBeLessThanOrEqual(2 * LIMIT);
    expect(answers.slice(0, LIMIT).map((r) => r.status)).toEqual(Array(LIMIT).fill(200));

    for (const [i, res] of accepted.entries()) {
      expect(res.headers.get("ratelimit-policy")).toBe(`"minute";q=${LIMIT};w=60`);
      if (i < LIMIT) expect(res.headers.get("ratelimit")).toMatch(new RegExp(`^"minute";r=${LIMIT - 1 - i};t=\\d+$`));
    }
    for (const res of refused) {
      const retryAfter = Number(res.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(res.headers.get("ratelimit-policy")).toBe(`"minute";q=${LIMIT};w=60`);
      expect(res.headers.get("ratelimit")).toMatch(/^"minute";r=0;t=\d+$/);
      expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      const problem = (await res.json()) as Problem;
      expect(problem.code).toBe("rate_limited");
      expect(problem.limit).toEqual({ name: "rate_limit_per_minute", value: LIMIT });
    }
    expect(refused.length).toBeGreaterThanOrEqual(LIMIT);

    const other = await fetch(`${second.url}/v1/jobs`, { headers: { authorization: `Bearer ${b.apiKey}` } });
    expect(other.status).toBe(200);
    expect(other.headers.get("ratelimit-policy")).toBe(`"minute";q=600;w=60`);
    expect(other.headers.get("ratelimit")).toMatch(/^"minute";r=599;t=\d+$/);
    for (const base of [h.url, second.url]) {
      const health = await fetch(`${base}/healthz`, { headers: { authorization: `Bearer ${a.apiKey}` } });
      expect(health.status).toBe(200);
      expect(health.headers.get("ratelimit")).toBeNull();
    }
    const admin = await h.request("GET", `/admin/api/tenants/${a.tenantId}`, { key: ADMIN_TOKEN });
    expect(admin.status).toBe(200);
    expect(admin.headers.get("ratelimit")).toBeNull();
  });
});
