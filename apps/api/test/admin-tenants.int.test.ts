import { createPrismaClient, type PrismaClient } from "@darkroom/db";
import { TEST_REDIS_URL } from "@darkroom/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, type ApiHarness, startApiHarness } from "./harness";

interface Tenant {
  id: string;
  name: string;
  max_concurrency: number | null;
  weight: number;
  rate_limit_per_minute: number;
  images_per_day: number | null;
  monthly_budget_usd: number | null;
}
interface Problem {
  code: string;
  errors?: { path: string; message: string }[];
}

let plain: ApiHarness;
let configured: ApiHarness;
let db: PrismaClient;
beforeAll(async () => {
  [plain, configured] = await Promise.all([
    startApiHarness("admin-tenants"),
    startApiHarness("admin-tenants-env", {
      TENANT_DEFAULT_MAX_CONCURRENCY: "7",
      TENANT_DEFAULT_WEIGHT: "3",
      TENANT_DEFAULT_RATE_LIMIT_PER_MINUTE: "120",
      TENANT_DEFAULT_IMAGES_PER_DAY: "500",
      TENANT_DEFAULT_MONTHLY_BUDGET_USD: "25.5",
    }),
  ]);
  db = createPrismaClient({ databaseUrl: plain.databaseUrl });
});
afterAll(async () => {
  await db?.$disconnect();
  await Promise.all([plain?.close(), configured?.close()]);
});

const admin = (h: ApiHarness, method: string, path: string, body?: unknown) =>
  h.request(method, path, { key: ADMIN_TOKEN, body });

async function tenantOf(h: ApiHarness, id: string): Promise<Tenant> {
  const res = await admin(h, "GET", `/admin/api/tenants/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Tenant;
}

describe("tenant settings", () => {
  it("a tenant created without settings gets the documented defaults", async () => {
    const { tenantId } = await plain.newTenant("Defaults");
    expect(await tenantOf(plain, tenantId)).toMatchObject({
      id: tenantId,
      name: "Defaults",
      max_concurrency: null,
      weight: 1,
      rate_limit_per_minute: 600,
      images_per_day: null,
      monthly_budget_usd: null,
    });
  });

  it("defaults come from the TENANT_DEFAULT_* variables; settings in the request win over them", async () => {
    const { tenantId } = await configured.newTenant("From env");
    expect(await tenantOf(configured, tenantId)).toMatchObject({
      max_concurrency: 7,
      weight: 3,
      rate_limit_per_minute: 120,
      images_per_day: 500,
      monthly_budget_usd: 25.5,
    });
    const res = await admin(configured, "POST", "/admin/api/keys", {
      name: "Own settings",
      max_concurrency: null,
      weight: 5,
      monthly_budget_usd: 0.1,
    });
    expect(res.status).toBe(201);
    const created = (await res.json()) as { tenant_id: string; api_key: string; webhook_secret: string };
    expect(created.api_key).toMatch(/^dr_/);
    expect(created.webhook_secret).toMatch(/^whsec_/);
    expect(await tenantOf(configured, created.tenant_id)).toMatchObject({
      max_concurrency: null,
      weight: 5,
      rate_limit_per_minute: 120,
      images_per_day: 500,
      monthly_budget_usd: 0.1,
    });
  });

  it("PATCH changes only the settings it names and answers the tenant", async () => {
    const { tenantId } = await plain.newTenant("Patched");
    const res = await admin(plain, "PATCH", `/admin/api/tenants/${tenantId}`, {
      max_concurrency: 3,
      images_per_day: 40,
    });
    expect(res.status).toBe(200);
    const expected = { max_concurrency: 3, weight: 1, rate_limit_per_minute: 600, images_per_day: 40 };
    expect(await res.json()).toMatchObject({ id: tenantId, ...expected });
    expect(await tenantOf(plain, tenantId)).toMatchObject(expected);
    const lifted = await admin(plain, "PATCH", `/admin/api/tenants/${tenantId}`, { max_concurrency: null });
    expect(await lifted.json()).toMatchObject({ max_concurrency: null, images_per_day: 40 });
  });

  it("PATCH reaches the workers' admission and every API process's cached keys at once", async () => {
    const { tenantId, apiKey } = await plain.newTenant("Steered");
    const other = await plain.addApi();
    const get = () => fetch(`${other.url}/v1/jobs`, { headers: { authorization: `Bearer ${apiKey}` } });
    // The other process has the key cached with the tenant's settings as they were (it caches
    // once its revocation subscription is confirmed; until then it reads Postgres every time).
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await get()).status).toBe(200);
    const res = await admin(plain, "PATCH", `/admin/api/tenants/${tenantId}`, {
      weight: 3,
      max_concurrency: 2,
      rate_limit_per_minute: 3,
    });
    expect(res.status).toBe(200);
    const redis = new Redis(TEST_REDIS_URL);
    try {
      expect(await redis.hget(`${plain.redisPrefix}:fair:conf`, tenantId)).toBe("3 2");
    } finally {
      redis.disconnect();
    }
    // Within moments (not the cache's minute) the other process counts against the new limit.
    const deadline = Date.now() + 2_000;
    let limited = false;
    while (!limited && Date.now() < deadline) {
      const answer = await get();
      limited = answer.status === 429 && (answer.headers.get("ratelimit-policy") ?? "").includes("q=3");
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(limited).toBe(true);
  });

  it("bad settings answer 400 naming each bad field, and change nothing", async () => {
    const { tenantId } = await plain.newTenant("Strict");
    const res = await admin(plain, "PATCH", `/admin/api/tenants/${tenantId}`, {
      weight: 0,
      max_concurrency: 1.5,
      rate_limit_per_minute: "600",
      monthly_budget_usd: -1,
      colour: "blue",
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toMatch(/application\/problem\+json/);
    const problem = (await res.json()) as Problem;
    expect(problem.code).toBe("validation_failed");
    expect(problem.errors?.map((e) => e.path).sort()).toEqual([
      "colour",
      "max_concurrency",
      "monthly_budget_usd",
      "rate_limit_per_minute",
      "weight",
    ]);
    expect(await tenantOf(plain, tenantId)).toMatchObject({ weight: 1, max_concurrency: null });
    const create = await admin(plain, "POST", "/admin/api/keys", { name: "x", images_per_day: -3 });
    expect(create.status).toBe(400);
    expect(((await create.json()) as Problem).errors?.map((e) => e.path)).toEqual(["images_per_day"]);
  });

  it("lists every tenant and answers 404 for an unknown one", async () => {
    const a = await plain.newTenant("Listed A");
    const b = await plain.newTenant("Listed B");
    const res = await admin(plain, "GET", "/admin/api/tenants");
    expect(res.status).toBe(200);
    const { data } = (await res.json()) as { data: Tenant[] };
    const ids = data.map((t) => t.id);
    expect(ids).toContain(a.tenantId);
    expect(ids.indexOf(a.tenantId)).toBeLessThan(ids.indexOf(b.tenantId));
    expect(JSON.stringify(data)).not.toContain("whsec_");
    for (const [method, path, body] of [
      ["GET", "/admin/api/tenants/ten_nope", undefined],
      ["PATCH", "/admin/api/tenants/ten_nope", { weight: 2 }],
      ["GET", "/admin/api/tenants/ten_nope/keys", undefined],
      ["POST", "/admin/api/tenants/ten_nope/keys", { name: "k" }],
      ["POST", "/admin/api/keys/key_nope/revoke", undefined],
      ["POST", "/admin/api/tenants/ten_nope/webhook-secret/rotate", undefined],
    ] as const) {
      const missing = await admin(plain, method, path, body);
      expect(missing.status, `${method} ${path}`).toBe(404);
      expect(((await missing.json()) as Problem).code).toBe("not_found");
    }
  });

  it("the tenant routes need the admin token", async () => {
    const { apiKey, tenantId } = await plain.newTenant("Not admin");
    for (const key of [undefined, apiKey]) {
      const res = await plain.request("GET", `/admin/api/tenants/${tenantId}`, key === undefined ? {} : { key });
      expect(res.status).toBe(401);
    }
  });
});

describe("API keys", () => {
  it("lists a tenant's keys with name, prefix and times, never the key or its hash", async () => {
    const { apiKey, tenantId } = await plain.newTenant("Keys");
    expect((await plain.request("GET", "/v1/jobs", { key: apiKey })).status).toBe(200);
    const res = await admin(plain, "GET", `/admin/api/tenants/${tenantId}/keys`);
    expect(res.status).toBe(200);
    const text = await res.text();
    const stored = await db.apiKey.findFirstOrThrow({ where: { tenantId } });
    expect(text).not.toContain(apiKey);
    expect(text).not.toContain(stored.keyHash);
    const { data } = JSON.parse(text) as { data: Record<string, unknown>[] };
    expect(data).toHaveLength(1);
    expect(Object.keys(data[0] ?? {}).sort()).toEqual(
      ["created_at", "id", "last_used_at", "name", "prefix", "revoked_at", "tenant_id"].sort(),
    );
    expect(data[0]).toMatchObject({ id: stored.id, name: "Keys", prefix: apiKey.slice(0, 10), revoked_at: null });
    // The request above used the key, so its last use is recorded.
    expect(typeof data[0]?.last_used_at).toBe("string");
  });

  it("an added key works for its tenant, and a revoked key answers 401 at once", async () => {
    const { apiKey: first, tenantId } = await plain.newTenant("Rotating keys");
    const job = await plain.request("POST", "/v1/jobs", { key: first, body: { prompt: "a lighthouse" } });
    const { id: jobId } = (await job.json()) as { id: string };
    const added = await admin(plain, "POST", `/admin/api/tenants/${tenantId}/keys`, { name: "second" });
    expect(added.status).toBe(201);
    const second = (await added.json()) as { id: string; api_key: string };
    expect(second.id).toMatch(/^key_/);
    expect((await plain.request("GET", `/v1/jobs/${jobId}`, { key: second.api_key })).status).toBe(200);

    const firstId = (await db.apiKey.findFirstOrThrow({ where: { tenantId, name: "Rotating keys" } })).id;
    const revoked = await admin(plain, "POST", `/admin/api/keys/${firstId}/revoke`);
    expect(revoked.status).toBe(200);
    const view = (await revoked.json()) as { revoked_at: string };
    expect(view.revoked_at).toEqual(expect.any(String));
    const refused = await plain.request("GET", `/v1/jobs/${jobId}`, { key: first });
    expect(refused.status).toBe(401);
    expect((await plain.request("GET", `/v1/jobs/${jobId}`, { key: second.api_key })).status).toBe(200);

    // Revoking again is idempotent: 200, the first revocation time kept.
    const again = await admin(plain, "POST", `/admin/api/keys/${firstId}/revoke`);
    expect(again.status).toBe(200);
    expect(((await again.json()) as { revoked_at: string }).revoked_at).toBe(view.revoked_at);
    const list = await admin(plain, "GET", `/admin/api/tenants/${tenantId}/keys`);
    const { data } = (await list.json()) as { data: { id: string; revoked_at: string | null }[] };
    expect(data.map((k) => [k.id, k.revoked_at])).toEqual([
      [firstId, view.revoked_at],
      [second.id, null],
    ]);
  });

  it("keys are cached per process: a revocation written behind the admin API's back is not seen at once", async () => {
    const { apiKey, tenantId } = await plain.newTenant("Cached");
    expect((await plain.request("GET", "/v1/jobs", { key: apiKey })).status).toBe(200);
    await db.apiKey.updateMany({ where: { tenantId }, data: { revokedAt: new Date() } });
    // Only the admin API (or the CLI) tells the processes; the cache's TTL bounds anything else.
    expect((await plain.request("GET", "/v1/jobs", { key: apiKey })).status).toBe(200);
    const [key] = (await db.apiKey.findMany({ where: { tenantId } })).map((k) => k.id);
    expect((await admin(plain, "POST", `/admin/api/keys/${key}/revoke`)).status).toBe(200);
    expect((await plain.request("GET", "/v1/jobs", { key: apiKey })).status).toBe(401);
  });

  it("adding a key validates its name", async () => {
    const { tenantId } = await plain.newTenant("Names");
    const res = await admin(plain, "POST", `/admin/api/tenants/${tenantId}/keys`, { name: "", extra: 1 });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Problem).errors?.map((e) => e.path).sort()).toEqual(["extra", "name"]);
  });
});
