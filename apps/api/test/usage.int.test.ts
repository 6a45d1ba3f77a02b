import { DEFAULT_MODEL_PRICES } from "@darkroom/config";
import { createPrismaClient, type PrismaClient } from "@darkroom/db";
import { MODELS, type UsageReport } from "@darkroom/domain";
import { runBundle, runBundleFailure } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { finishJob } from "./finish-job";
import { ADMIN_TOKEN, type ApiHarness, startApiHarness } from "./harness";

/**
 * `GET /v1/usage`, its admin twin and the CLI, over jobs finished through the db calls a worker
 * makes (this harness runs no worker; apps/worker/test/usage.int.test.ts runs real ones).
 */

interface Problem {
  code: string;
  errors?: { path: string; message: string }[];
}

const PRICES = DEFAULT_MODEL_PRICES;

/** The first instant of the current UTC month (computed here, apart from the code under test). */
const monthStart = () => {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
};

let h: ApiHarness;
let db: PrismaClient;
let a: { key: string; tenantId: string };
let b: { key: string; tenantId: string };
const ran = { jobs: [] as string[] };

async function tenantWith(name: string, settings: Record<string, unknown> = {}) {
  const res = await h.request("POST", "/admin/api/keys", { key: ADMIN_TOKEN, body: { name, ...settings } });
  const body = (await res.json()) as { api_key: string; tenant_id: string };
  return { key: body.api_key, tenantId: body.tenant_id };
}

async function job(key: string, body: Record<string, unknown>, outcome: "succeeded" | "failed", tokens: number) {
  const res = await h.request("POST", "/v1/jobs", { key, body: { prompt: "usage", ...body } });
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  await finishJob(db, id, outcome, PRICES, { prompt_tokens: 1, completion_tokens: 2, total_tokens: tokens });
  ran.jobs.push(id);
  return id;
}

const usage = async (key: string, query = "") => {
  const res = await h.request("GET", `/v1/usage${query}`, { key });
  return { status: res.status, body: (await res.json()) as UsageReport & Problem };
};

beforeAll(async () => {
  h = await startApiHarness("usage");
  db = createPrismaClient({ databaseUrl: h.databaseUrl });
  a = await tenantWith("A", { images_per_day: 100, monthly_budget_usd: 5 });
  b = await tenantWith("B");
  await job(a.key, { n: 2 }, "succeeded", 40); // gpt-4o-image: 2 x 0.04
  await job(a.key, { n: 3, model: "gpt-image-1" }, "succeeded", 300); // 3 x 0.042
  await job(a.key, { n: 1 }, "failed", 0);
  await job(b.key, { n: 4 }, "succeeded", 9);
  // One of A's jobs finished last month: outside the default range, inside an explicit one.
  const old = await job(a.key, { n: 1, model: "gpt-image-1" }, "succeeded", 7);
  await db.job.update({
    where: { id: old },
    data: { finishedAt: new Date(monthStart().getTime() - 3_600_000) },
  });
  // A queued job: it holds its reservation, and counts in no usage row.
  await h.request("POST", "/v1/jobs", { key: a.key, body: { prompt: "still queued", n: 2 } });
});
afterAll(async () => {
  await db?.$disconnect();
  await h?.close();
});

describe("GET /v1/usage", () => {
  it("defaults to this UTC month up to now, by day, for the caller's tenant only", async () => {
    const before = Date.now();
    const { status, body } = await usage(a.key);
    expect(status).toBe(200);
    expect(body.object).toBe("usage");
    expect(body.group_by).toBe("day");
    expect(body.from).toBe(monthStart().toISOString());
    expect(Date.parse(body.to)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(body.to)).toBeLessThanOrEqual(Date.now());
    const totals = { jobs_succeeded: 2, jobs_failed: 1, images: 5, tokens: 340, cost_usd: 0.206 };
    expect(body.totals).toEqual(totals);
    expect(body.data).toEqual([{ day: new Date().toISOString().slice(0, 10), ...totals }]);
    expect(body.limits).toEqual({
      images_per_day: { limit: 100, used: 5, reserved: 2, remaining: 93, resets_at: expect.any(String) },
      monthly_budget_usd: { limit: 5, used: 0.206, reserved: 0.084, remaining: 4.71, resets_at: expect.any(String) },
    });
    const other = await usage(b.key);
    expect(other.body.totals).toEqual({ jobs_succeeded: 1, jobs_failed: 0, images: 4, tokens: 9, cost_usd: 0.16 });
    expect(other.body.limits).toEqual({ images_per_day: null, monthly_budget_usd: null });
  });

  it("groups by model (the model that stored the images) and honours from and to", async () => {
    const from = new Date(monthStart().getTime() - 86_400_000).toISOString();
    const { body } = await usage(a.key, `?group_by=model&from=${from}`);
    expect(body.data).toEqual([
      { model: "gpt-4o-image", jobs_succeeded: 1, jobs_failed: 1, images: 2, tokens: 40, cost_usd: 0.08 },
      { model: "gpt-image-1", jobs_succeeded: 2, jobs_failed: 0, images: 4, tokens: 307, cost_usd: 0.168 },
    ]);
    expect(body.totals).toEqual({ jobs_succeeded: 3, jobs_failed: 1, images: 6, tokens: 347, cost_usd: 0.248 });
    const byDay = await usage(a.key, `?from=${from}`);
    expect(byDay.body.data.map((row) => ("day" in row ? row.day : ""))).toHaveLength(2);
    const empty = await usage(a.key, "?from=2020-01-01&to=2020-12-31T23:59:59Z");
    expect(empty.body.data).toEqual([]);
    expect(empty.body.totals).toEqual({ jobs_succeeded: 0, jobs_failed: 0, images: 0, tokens: 0, cost_usd: 0 });
  });

  it.each([
    ["?from=yesterday", "from", /ISO 8601/],
    ["?to=2026-13-01", "to", /ISO 8601/],
    ["?from=2026-02-01&from=2026-03-01", "from", /ISO 8601/],
    ["?from=2026-03-01&to=2026-02-01", "from", /must not be after to/],
    ["?from=2024-01-01&to=2025-01-02T00:00:01Z", "to", /at most 366 days after from/],
    ["?group_by=week", "group_by", /must be one of day, model/],
    ["?tenant=ten_x", "tenant", /is not a known field/],
  ])("answers 400 validation_failed for %s, naming %s", async (query, field, message) => {
    const { status, body } = await usage(a.key, query);
    expect(status).toBe(400);
    expect(body.code).toBe("validation_failed");
    const error = body.errors?.find((e) => e.path === field);
    expect(error?.message).toMatch(message);
  });

  it("accepts a range of exactly 366 days, and requires an API key", async () => {
    expect((await usage(a.key, "?from=2024-01-01&to=2025-01-01")).status).toBe(200);
    expect((await h.request("GET", "/v1/usage")).status).toBe(401);
  });
});

describe("usage for the admin", () => {
  it("GET /admin/api/tenants/{id}/usage answers the tenant's report; unknown tenants 404, wrong tokens 401", async () => {
    const query = "?group_by=model&from=2026-01-01&to=2026-12-31";
    const mine = await usage(a.key, query);
    const res = await h.request("GET", `/admin/api/tenants/${a.tenantId}/usage${query}`, { key: ADMIN_TOKEN });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(mine.body);
    const bad = await h.request("GET", `/admin/api/tenants/${a.tenantId}/usage?group_by=x`, { key: ADMIN_TOKEN });
    expect(bad.status).toBe(400);
    expect((await h.request("GET", "/admin/api/tenants/ten_01NOSUCHTENANT/usage", { key: ADMIN_TOKEN })).status).toBe(
      404,
    );
    expect((await h.request("GET", `/admin/api/tenants/${a.tenantId}/usage`, { key: a.key })).status).toBe(401);
  });

  it("the tenant object shows what is used of its limits", async () => {
    const res = await h.request("GET", `/admin/api/tenants/${a.tenantId}`, { key: ADMIN_TOKEN });
    const tenant = (await res.json()) as { limits: UsageReport["limits"] };
    expect(tenant.limits).toEqual((await usage(a.key)).body.limits);
    const patched = await h.request("PATCH", `/admin/api/tenants/${b.tenantId}`, {
      key: ADMIN_TOKEN,
      body: { images_per_day: 10 },
    });
    expect(((await patched.json()) as { limits: UsageReport["limits"] }).limits).toMatchObject({
      images_per_day: { limit: 10, used: 4, reserved: 0, remaining: 6 },
      monthly_budget_usd: null,
    });
  });

  it("npm run cli -- tenants usage prints the same report, and names a bad option", async () => {
    const args = (more: string[]) => ["tenants", "usage", a.tenantId, ...more];
    const env = { DATABASE_URL: h.databaseUrl };
    const range = ["--from", "2026-01-01", "--to", "2026-12-31", "--group-by", "model"];
    const [{ stdout }, { stdout: text }, bad] = await Promise.all([
      runBundle("cli.js", args([...range, "--json"]), env),
      runBundle("cli.js", args(range), env),
      runBundleFailure("cli.js", args(["--from", "soon"]), env),
    ]);
    expect(JSON.parse(stdout)).toEqual((await usage(a.key, "?group_by=model&from=2026-01-01&to=2026-12-31")).body);
    expect(text).toMatch(/^gpt-image-1 +2 +0 +4 +307 +0\.168$/m);
    expect(text).toMatch(/^total +3 +1 +6 +347 +0\.248$/m);
    expect(text).toMatch(
      /images_per_day: 5 used \+ 2 reserved of 100 \(93 left\), resets 20\d\d-\d\d-\d\dT00:00:00.000Z/,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--from: must be an ISO 8601 date-time/);
  });
});

describe("MODEL_PRICES", () => {
  it("has a default price for every model a job can ask for", () => {
    for (const model of MODELS) expect(DEFAULT_MODEL_PRICES[model], model).toBeGreaterThan(0);
  });
});
