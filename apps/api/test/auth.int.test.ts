import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, type ApiHarness, startApiHarness } from "./harness";

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness("auth");
});
afterAll(() => h.close());

describe("authentication and tenant isolation", () => {
  it("answers 401 without a key, with a malformed header and with an unknown key", async () => {
    const variants: Record<string, string>[] = [
      {},
      { authorization: "Basic abc" },
      { authorization: "Bearer dr_nope" },
    ];
    for (const headers of variants) {
      const res = await h.request("GET", "/v1/jobs", { headers });
      expect(res.status).toBe(401);
      const body = (await res.json()) as { code: string };
      expect(body.code).toBe("unauthorized");
    }
  });

  it("hides one tenant's jobs and images from another with 404, never 403", async () => {
    const a = await h.newTenant("a");
    const b = await h.newTenant("b");
    const created = await h.request("POST", "/v1/jobs", { key: a.apiKey, body: { prompt: "tenant a's secret" } });
    const job = (await created.json()) as { id: string };
    expect((await h.request("GET", `/v1/jobs/${job.id}`, { key: a.apiKey })).status).toBe(200);
    const other = await h.request("GET", `/v1/jobs/${job.id}`, { key: b.apiKey });
    expect(other.status).toBe(404);
    expect(((await other.json()) as { code: string }).code).toBe("not_found");
    expect((await h.request("GET", `/v1/jobs/${job.id}/images/0`, { key: b.apiKey })).status).toBe(404);
    const list = (await (await h.request("GET", "/v1/jobs", { key: b.apiKey })).json()) as { data: unknown[] };
    expect(list.data).toEqual([]);
  });

  it("stores keys hashed, never in the clear", async () => {
    const { apiKey } = await h.newTenant("hashed");
    const pg = await import("pg");
    const client = new pg.default.Client({ connectionString: h.databaseUrl });
    await client.connect();
    const rows = await client.query('SELECT "keyHash", prefix FROM "ApiKey"');
    await client.end();
    expect(JSON.stringify(rows.rows)).not.toContain(apiKey);
    expect(rows.rows.some((r: { prefix: string }) => apiKey.startsWith(r.prefix))).toBe(true);
  });

  it("guards the admin API with ADMIN_TOKEN", async () => {
    expect((await h.request("POST", "/admin/api/keys", { body: { name: "x" } })).status).toBe(401);
    expect((await h.request("POST", "/admin/api/keys", { key: `${ADMIN_TOKEN}x`, body: { name: "x" } })).status).toBe(
      401,
    );
    const bad = await h.request("POST", "/admin/api/keys", { key: ADMIN_TOKEN, body: { name: "" } });
    expect(bad.status).toBe(400);
    const ok = await h.request("POST", "/admin/api/keys", { key: ADMIN_TOKEN, body: { name: "acme" } });
    expect(ok.status).toBe(201);
    const body = (await ok.json()) as Record<string, string>;
    expect(body.tenant_id).toMatch(/^ten_/);
    expect(body.api_key).toMatch(/^dr_/);
    expect(body.webhook_secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
  });

  it("refuses image URLs with a bad or expired signature", async () => {
    const { apiKey } = await h.newTenant("img");
    const job = (await (await h.request("POST", "/v1/jobs", { key: apiKey, body: { prompt: "x" } })).json()) as {
      id: string;
    };
    const forged = await h.request("GET", `/v1/jobs/${job.id}/images/0?expires=9999999999&signature=AAAA`);
    expect(forged.status).toBe(403);
    const expired = await h.request("GET", `/v1/jobs/${job.id}/images/0?expires=1000&signature=AAAA`);
    expect(expired.status).toBe(403);
  });

  it("carries an x-request-id on every response, echoing a sane incoming one", async () => {
    const mine = await h.request("GET", "/healthz", { headers: { "x-request-id": "trace-123" } });
    expect(mine.headers.get("x-request-id")).toBe("trace-123");
    const generated = await h.request("GET", "/nope");
    expect(generated.status).toBe(404);
    expect(generated.headers.get("x-request-id")).toMatch(/^req_/);
  });
});
