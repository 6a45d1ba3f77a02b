import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, startApiHarness } from "./harness";

/**
 * The request hash is what tells a replay from another body under the same Idempotency-Key: it is
 * stored with a keyed job and compared on every later use of the key. A create without a key
 * computes none (nothing could ever be compared with it).
 */

let h: ApiHarness;
let sql: pg.Client;

beforeAll(async () => {
  h = await startApiHarness("idempotency");
  sql = new pg.Client({ connectionString: h.databaseUrl });
  await sql.connect();
});
afterAll(async () => {
  await sql?.end();
  await h?.close();
});

const storedHash = async (jobId: string): Promise<string | null> =>
  (
    (await sql.query('SELECT "requestHash" FROM "Job" WHERE id = $1', [jobId])).rows[0] as {
      requestHash: string | null;
    }
  ).requestHash;

describe("request hash", () => {
  it("is stored with a keyed job and compared on replay: the same body (any key order) replays, another is refused", async () => {
    const { apiKey, tenantId } = await h.newTenant("keyed");
    const headers = { "idempotency-key": "order-42" };
    const first = await h.request("POST", "/v1/jobs", {
      key: apiKey,
      headers,
      body: { prompt: "a harbour at night", n: 2, metadata: { b: 1, a: { y: 2, x: 1 } } },
    });
    expect(first.status).toBe(202);
    const job = (await first.json()) as { id: string };
    expect(await storedHash(job.id)).toMatch(/^[0-9a-f]{64}$/);

    // The same request, its keys in another order and a default spelled out: a replay.
    const again = await h.request("POST", "/v1/jobs", {
      key: apiKey,
      raw: JSON.stringify({
        metadata: { a: { x: 1, y: 2 }, b: 1 },
        n: 2,
        priority: "normal",
        prompt: "a harbour at night",
      }),
      headers: { ...headers, "content-type": "application/json" },
    });
    expect(again.status).toBe(202);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(((await again.json()) as { id: string }).id).toBe(job.id);

    const other = await h.request("POST", "/v1/jobs", {
      key: apiKey,
      headers,
      body: { prompt: "a harbour at night", n: 3, metadata: { b: 1, a: { y: 2, x: 1 } } },
    });
    expect(other.status).toBe(422);
    expect(((await other.json()) as { code: string }).code).toBe("idempotency_mismatch");
    const jobs = await sql.query('SELECT id FROM "Job" WHERE "tenantId" = $1', [tenantId]);
    expect(jobs.rows).toEqual([{ id: job.id }]);
  });

  it("is not computed for a job created without a key", async () => {
    const { apiKey } = await h.newTenant("unkeyed");
    const res = await h.request("POST", "/v1/jobs", { key: apiKey, body: { prompt: "no key" } });
    expect(res.status).toBe(202);
    expect(await storedHash(((await res.json()) as { id: string }).id)).toBeNull();
  });
});
