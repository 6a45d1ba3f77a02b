import { createPrismaClient, type PrismaClient } from "@darkroom/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { finishJob } from "./finish-job";
import { ADMIN_TOKEN, type ApiHarness, startApiHarness } from "./harness";

/**
 * `images_per_day` and `monthly_budget_usd`, checked when a job is created and when it is retried.
 * This harness runs no worker: jobs stay queued (and hold their reservation) until the test plays
 * the worker's part with the same db calls a worker makes (claim, then complete or fail).
 */

// Other prices than the defaults, so the test sees the table come from MODEL_PRICES.
const PRICES = { "gpt-4o-image": 0.05, "gpt-image-1": 0.07 };

interface Problem {
  code: string;
  status: number;
  detail: string;
  limit?: {
    name: string;
    value: number;
    used: number;
    reserved: number;
    requested: number;
    resets_at: string;
  };
}

let h: ApiHarness;
let db: PrismaClient;
beforeAll(async () => {
  h = await startApiHarness("quotas", { MODEL_PRICES: "gpt-4o-image=0.05,gpt-image-1=0.07" });
  db = createPrismaClient({ databaseUrl: h.databaseUrl });
});
afterAll(async () => {
  await db?.$disconnect();
  await h?.close();
});

async function tenantWith(settings: Record<string, unknown>) {
  const res = await h.request("POST", "/admin/api/keys", { key: ADMIN_TOKEN, body: { name: "quota", ...settings } });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { api_key: string; tenant_id: string };
  return { key: body.api_key, tenantId: body.tenant_id };
}

const create = (key: string, body: Record<string, unknown>, headers?: Record<string, string>) =>
  h.request("POST", "/v1/jobs", { key, body: { prompt: "a quota test", ...body }, headers });

async function created(key: string, body: Record<string, unknown>): Promise<string> {
  const res = await create(key, body);
  expect(res.status, await res.clone().text()).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

const finish = (jobId: string, outcome: "succeeded" | "failed") => finishJob(db, jobId, outcome, PRICES);

const jobCount = (tenantId: string) => db.job.count({ where: { tenantId } });

/** Next 00:00 UTC, and the first instant of next UTC month, after `at` (computed here, apart from the code under test). */
const nextDay = (at: Date) => new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate() + 1));
const nextMonth = (at: Date) => new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));

/** The reset instant the API must name, computed around the request in case it crossed a boundary. */
function expectResetBetween(
  resetsAt: string,
  retryAfter: string | null,
  before: Date,
  after: Date,
  next: (at: Date) => Date,
) {
  expect([next(before).toISOString(), next(after).toISOString()]).toContain(resetsAt);
  const seconds = Number(retryAfter);
  const reset = Date.parse(resetsAt);
  expect(seconds).toBeGreaterThanOrEqual(Math.floor((reset - after.getTime()) / 1000));
  expect(seconds).toBeLessThanOrEqual(Math.ceil((reset - before.getTime()) / 1000) + 1);
}

describe("images_per_day", () => {
  it("counts n and the queued jobs' reservations, then answers 429 quota_exceeded naming the limit and its reset", async () => {
    const t = await tenantWith({ images_per_day: 5 });
    await created(t.key, { n: 2 });
    await created(t.key, { n: 2 });
    const before = new Date();
    const refused = await create(t.key, { n: 2 });
    const after = new Date();
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toMatch(/application\/problem\+json/);
    const problem = (await refused.json()) as Problem;
    expect(problem).toMatchObject({
      code: "quota_exceeded",
      status: 429,
      limit: { name: "images_per_day", value: 5, used: 0, reserved: 4, requested: 2 },
    });
    expect(problem.detail).toMatch(/images_per_day of 5/);
    expectResetBetween(problem.limit?.resets_at ?? "", refused.headers.get("retry-after"), before, after, nextDay);
    // The refusal left no job behind; one image still fits.
    expect(await jobCount(t.tenantId)).toBe(2);
    await created(t.key, { n: 1 });
    expect((await create(t.key, { n: 1 })).status).toBe(429);
    expect(await jobCount(t.tenantId)).toBe(3);
  });

  it("counts images stored today; failed and canceled jobs give their reservation back", async () => {
    const t = await tenantWith({ images_per_day: 4 });
    const stored = await created(t.key, { n: 3 });
    await finish(stored, "succeeded");
    const failed = await created(t.key, { n: 1 });
    expect((await create(t.key, { n: 1 })).status).toBe(429);
    await finish(failed, "failed");
    const canceledLater = await created(t.key, { n: 1 });
    const refused = (await (await create(t.key, { n: 1 })).json()) as Problem;
    expect(refused.limit).toMatchObject({ used: 3, reserved: 1, requested: 1 });
    const cancel = await h.request("POST", `/v1/jobs/${canceledLater}/cancel`, { key: t.key });
    expect(cancel.status).toBe(200);
    await created(t.key, { n: 1 });
  });

  it("0 refuses every job; null lifts the quota", async () => {
    const t = await tenantWith({ images_per_day: 0 });
    const refused = await create(t.key, { n: 1 });
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as Problem).limit).toMatchObject({ value: 0, used: 0, reserved: 0, requested: 1 });
    expect(await jobCount(t.tenantId)).toBe(0);
    const patch = await h.request("PATCH", `/admin/api/tenants/${t.tenantId}`, {
      key: ADMIN_TOKEN,
      body: { images_per_day: null },
    });
    expect(patch.status).toBe(200);
    for (let i = 0; i < 3; i++) await created(t.key, { n: 4 });
  });

  it("never refuses an idempotent replay of a job that exists", async () => {
    const t = await tenantWith({ images_per_day: 2 });
    const first = await create(t.key, { n: 2 }, { "idempotency-key": "order-1" });
    expect(first.status).toBe(202);
    const replay = await create(t.key, { n: 2 }, { "idempotency-key": "order-1" });
    expect(replay.status).toBe(202);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(((await replay.json()) as { id: string }).id).toBe(((await first.json()) as { id: string }).id);
    // Simultaneous requests with one new key: one job, every answer that job (none refused by its own reservation).
    await h.request("PATCH", `/admin/api/tenants/${t.tenantId}`, { key: ADMIN_TOKEN, body: { images_per_day: 3 } });
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => create(t.key, { n: 1 }, { "idempotency-key": "order-2" })),
    );
    expect(answers.map((r) => r.status)).toEqual([202, 202, 202, 202, 202, 202]);
    const ids = new Set(await Promise.all(answers.map(async (r) => ((await r.json()) as { id: string }).id)));
    expect(ids.size).toBe(1);
    expect(await jobCount(t.tenantId)).toBe(2);
  });

  it("concurrent creates cannot pass the quota together", async () => {
    const t = await tenantWith({ images_per_day: 10 });
    const answers = await Promise.all(Array.from({ length: 30 }, () => create(t.key, { n: 1 })));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20);
    expect(await jobCount(t.tenantId)).toBe(10);
  });

  it("a user retry takes from the quota like a new job; a refused retry leaves the job as it was", async () => {
    const t = await tenantWith({ images_per_day: 3 });
    const job = await created(t.key, { n: 2 });
    await finish(job, "failed");
    const other = await created(t.key, { n: 2 });
    const refused = await h.request("POST", `/v1/jobs/${job}/retry`, { key: t.key });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await refused.json()) as Problem).limit).toMatchObject({
      name: "images_per_day",
      reserved: 2,
      requested: 2,
    });
    const unchanged = await db.job.findUniqueOrThrow({ where: { id: job } });
    expect(unchanged.status).toBe("failed");
    expect(unchanged.attemptBase).toBe(0);
    await h.request("POST", `/v1/jobs/${other}/cancel`, { key: t.key });
    const retried = await h.request("POST", `/v1/jobs/${job}/retry`, { key: t.key });
    expect(retried.status).toBe(202);
    // The retried job holds its images again.
    expect((await create(t.key, { n: 2 })).status).toBe(429);
  });
});

describe("monthly_budget_usd", () => {
  it("counts each job at its worst case (n times the higher price of model and fallback) and answers 429 budget_exceeded", async () => {
    const t = await tenantWith({ monthly_budget_usd: 0.3 });
    // gpt-4o-image with the gpt-image-1 fallback: 2 x 0.07 = 0.14 held.
    await created(t.key, { n: 2 });
    // Without a fallback, only its own price: 2 x 0.05 = 0.10 (0.24 held).
    await created(t.key, { n: 2, fallback_model: null });
    const before = new Date();
    const refused = await create(t.key, { n: 1 });
    const after = new Date();
    expect(refused.status).toBe(429);
    const problem = (await refused.json()) as Problem;
    expect(problem).toMatchObject({
      code: "budget_exceeded",
      limit: { name: "monthly_budget_usd", value: 0.3, used: 0, reserved: 0.24, requested: 0.07 },
    });
    expect(problem.detail).toMatch(/monthly_budget_usd of 0.3/);
    expectResetBetween(problem.limit?.resets_at ?? "", refused.headers.get("retry-after"), before, after, nextMonth);
    expect(await jobCount(t.tenantId)).toBe(2);
    // 0.06 left: a gpt-4o-image job without fallback (0.05) fits; then 0.01 is left.
    await created(t.key, { n: 1, fallback_model: null });
    expect((await create(t.key, { n: 1, fallback_model: null })).status).toBe(429);
  });

  it("holds both prices for a hedged job, whose aborted call may be billed too", async () => {
    const t = await tenantWith({ monthly_budget_usd: 0.32 });
    // Hedged: 2 x (0.05 + 0.07) = 0.24 held, where an unhedged job holds 2 x 0.07.
    await created(t.key, { n: 2, hedge_after_seconds: 30 });
    // The request itself is priced the same way: 0.12 more would pass 0.32.
    const refused = (await (await create(t.key, { n: 1, hedge_after_seconds: 30 })).json()) as Problem;
    expect(refused).toMatchObject({ code: "budget_exceeded", limit: { reserved: 0.24, requested: 0.12 } });
    // Unhedged, the same job holds only the higher price (0.07) and fits in the 0.08 left.
    await created(t.key, { n: 1 });
  });

  it("counts the estimated cost of succeeded jobs this month (what was stored, by the model that stored it)", async () => {
    const t = await tenantWith({ monthly_budget_usd: 0.27 });
    const job = await created(t.key, { n: 3, model: "gpt-image-1" });
    await finish(job, "succeeded");
    const stored = await db.job.findUniqueOrThrow({ where: { id: job } });
    expect(stored.costUsd?.toNumber()).toBe(0.21);
    expect(stored.imagesStored).toBe(3);
    const refused = (await (await create(t.key, { n: 1 })).json()) as Problem;
    expect(refused).toMatchObject({ code: "budget_exceeded", limit: { used: 0.21, reserved: 0, requested: 0.07 } });
    // 0.06 left: a gpt-4o-image job without fallback (0.05) still fits.
    await created(t.key, { n: 1, fallback_model: null });
    expect(await jobCount(t.tenantId)).toBe(2);
  });

  it("a user retry takes from the budget like a new job", async () => {
    const t = await tenantWith({ monthly_budget_usd: 0.1 });
    const job = await created(t.key, { n: 1 });
    await finish(job, "failed");
    await created(t.key, { n: 1 });
    const refused = await h.request("POST", `/v1/jobs/${job}/retry`, { key: t.key });
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as Problem).code).toBe("budget_exceeded");
    expect((await db.job.findUniqueOrThrow({ where: { id: job } })).status).toBe("failed");
  });

  it("the images quota is checked first; a tenant without limits is never refused", async () => {
    const both = await tenantWith({ images_per_day: 1, monthly_budget_usd: 0.01 });
    expect(((await (await create(both.key, { n: 2 })).json()) as Problem).code).toBe("quota_exceeded");
    expect(((await (await create(both.key, { n: 1 })).json()) as Problem).code).toBe("budget_exceeded");
    const free = await tenantWith({});
    for (let i = 0; i < 5; i++) await created(free.key, { n: 4 });
  });
});
