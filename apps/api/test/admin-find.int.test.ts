import { type AdminJobFilter, adminJobConditions, adminJobPageSql } from "@darkroom/db";
import { testPool } from "@darkroom/testing";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, type ApiHarness, startApiHarness } from "./harness";

/**
 * Finding jobs among 100,000 (GET /admin/api/jobs and /count): each filter is right, answered
 * from an index (the plans), and pages by cursor; bad values are refused naming the parameter.
 */

let h: ApiHarness;
let sql: pg.Pool;
let acme: { apiKey: string; tenantId: string };
let globex: { apiKey: string; tenantId: string };
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const ROWS = 100_000;

beforeAll(async () => {
  h = await startApiHarness("adminfind");
  sql = testPool(h.databaseUrl, 2);
  acme = await h.newTenant("Acme");
  globex = await h.newTenant("Globex");
  // 100,000 jobs over 30 days, two tenants, every status; ids below any the API mints.
  await sql.query(
    `INSERT INTO "Job" (id, "tenantId", status, model, prompt, n, size, quality, "maxAttempts", "deadlineSeconds",
       "deadlineAt", "webhookEvents", metadata, "errorCode", "fallbackUsed", "createdAt", "updatedAt")
     SELECT 'job_' || lpad(upper(to_hex(g)), 26, '0'),
       CASE WHEN g % 2 = 0 THEN $1 ELSE $2 END,
       (ARRAY['queued','running','succeeded','failed','canceled'])[1 + g % 5]::"JobStatus",
       CASE WHEN g % 3 = 0 THEN 'gpt-image-1' ELSE 'gpt-4o-image' END,
       'a ' || (ARRAY['red','blue','green','amber','violet','teal','ochre','grey','white','black'])[1 + g % 10]
         || ' fox, study number ' || g || CASE WHEN g % 25000 = 7 THEN ' zephyrine' ELSE '' END,
       1, '1024x1024', 'auto', 3, 600, now(), '{}',
       jsonb_build_object('user', 'u_' || (g % 1000), 'batch', g % 7),
       CASE WHEN g % 5 = 3 THEN (ARRAY['upstream_timeout','content_policy'])[1 + g % 2] END,
       g % 11 = 0,
       now() - make_interval(secs => g * 25.92), now()
     FROM generate_series(1, ${ROWS}) g`,
    [acme.tenantId, globex.tenantId],
  );
  await sql.query(`ANALYZE "Job"`);
}, 120_000);
afterAll(async () => {
  await sql?.end();
  await h?.close();
});

type Page = { data: { id: string; prompt: string; tenant_id: string; status: string }[]; next_cursor: string | null };
const list = async (query: string): Promise<Page> => {
  const res = await h.request("GET", `/admin/api/jobs?${query}`, { headers: admin });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Page;
};
const count = async (query: string): Promise<number> => {
  const res = await h.request("GET", `/admin/api/jobs/count?${query}`, { headers: admin });
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { count: number }).count;
};
const sqlCount = async (where: string, values: unknown[] = []) =>
  Number((await sql.query<{ n: string }>(`SELECT count(*) AS n FROM "Job" WHERE ${where}`, values)).rows[0]?.n);

/** The plan of the list statement (or the count) for a filter, as text. */
async function plan(filter: AdminJobFilter, shape: "list" | "count"): Promise<string> {
  // The statements the API runs: the page's own, and the count's conditions.
  const where = adminJobConditions(filter);
  const statement = shape === "list" ? adminJobPageSql(filter, { limit: 50 }) : where;
  const text =
    shape === "list" ? `EXPLAIN ${statement.text}` : `EXPLAIN SELECT count(*) FROM "Job" WHERE ${where.text}`;
  const { rows } = await sql.query<{ "QUERY PLAN": string }>(text, statement.values as unknown[]);
  return rows.map((r) => r["QUERY PLAN"]).join("\n");
}

describe("finding jobs among 100,000", () => {
  it("finds by words of the prompt, whole words in any order and case, from the full-text index", async () => {
    const found = await list("q=Zephyrine%20FOX");
    expect(found.data.map((j) => j.prompt).sort()).toEqual(
      (await sql.query<{ prompt: string }>(`SELECT prompt FROM "Job" WHERE prompt LIKE '%zephyrine%'`)).rows
        .map((r) => r.prompt)
        .sort(),
    );
    expect(found.data).toHaveLength(4);
    expect((await list("q=zephyr")).data).toEqual([]);
    const p = await plan({ q: "zephyrine fox" }, "list");
    expect(p).toContain("Job_prompt_search_idx");
    expect(p).not.toMatch(/Seq Scan on "Job"/);
  });

  it("finds by job id, by metadata key=value (string or number), by tenant, status, model, error, fallback and time", async () => {
    const one = (await sql.query<{ id: string }>(`SELECT id FROM "Job" ORDER BY id LIMIT 1 OFFSET 500`)).rows[0]?.id;
    expect((await list(`q=${one}`)).data.map((j) => j.id)).toEqual([one]);

    expect(await count("metadata=user%3Du_42")).toBe(await sqlCount(`metadata->>'user' = 'u_42'`));
    expect(await count("metadata=user%3Du_42&metadata=batch%3D3")).toBe(
      await sqlCount(`metadata->>'user' = 'u_42' AND metadata->>'batch' = '3'`),
    );
    expect(await count("metadata=user%3Du_42&metadata=batch%3D3")).toBeGreaterThan(0);
    expect(await count(`tenant=${acme.tenantId}&status=failed,canceled`)).toBe(
      await sqlCount(`"tenantId" = $1 AND status IN ('failed','canceled')`, [acme.tenantId]),
    );
    expect(await count("model=gpt-image-1&fallback_used=true")).toBe(
      await sqlCount(`model = 'gpt-image-1' AND "fallbackUsed"`),
    );
    expect(await count("error_code=content_policy")).toBe(await sqlCount(`"errorCode" = 'content_policy'`));
    const from = new Date(Date.now() - 2 * 86_400_000).toISOString();
    const to = new Date(Date.now() - 86_400_000).toISOString();
    expect(await count(`created_after=${encodeURIComponent(from)}&created_before=${encodeURIComponent(to)}`)).toBe(
      await sqlCount(`"createdAt" >= $1 AND "createdAt" < $2`, [from, to]),
    );
    const mixed = await list(`status=failed&tenant=${globex.tenantId}&limit=5`);
    expect(mixed.data.every((j) => j.status === "failed" && j.tenant_id === globex.tenantId)).toBe(true);
  });

  it("answers each filter from an index, never a scan of the whole table", async () => {
    const day = new Date(Date.now() - 86_400_000);
    const cases: [AdminJobFilter, "list" | "count", RegExp][] = [
      [{ metadata: [["user", "u_42"]] }, "list", /Job_metadata_idx/],
      [{ metadata: [["batch", "3"]], status: ["failed"] }, "count", /Index Scan/],
      [{ status: ["failed", "canceled"] }, "list", /Index Scan/],
      [{ status: ["queued"] }, "count", /Job_status_\w+_idx/],
      [{ tenant: acme.tenantId }, "list", /Job_tenantId_id_idx|Job_pkey/],
      [{ createdAfter: day }, "count", /Job_createdAt_idx/],
      [{ q: "amber fox" }, "count", /Job_prompt_search_idx/],
      [{ q: "amber fox", tenant: acme.tenantId }, "list", /Job_prompt_search_idx/],
      [{ errorCode: "content_policy" }, "list", /Index Scan/],
    ];
    for (const [filter, shape, index] of cases) {
      const p = await plan(filter, shape);
      expect(p, `${JSON.stringify(filter)}\n${p}`).toMatch(index);
      expect(p, JSON.stringify(filter)).not.toMatch(/Seq Scan on "Job"/);
    }
  });

  it("pages newest first with the cursor, without overlap", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 3; i++) {
      const page: Page = await list(`q=violet&limit=20${cursor === null ? "" : `&cursor=${cursor}`}`);
      seen.push(...page.data.map((j) => j.id));
      cursor = page.next_cursor;
    }
    expect(seen).toHaveLength(60);
    expect(new Set(seen).size).toBe(60);
    expect(seen).toEqual([...seen].sort().reverse());
  });

  it("refuses a bad filter with a 400 naming the parameter", async () => {
    const bad: [string, string][] = [
      ["status=bogus", "status"],
      ["fallback_used=maybe", "fallback_used"],
      ["created_after=yesterday", "created_after"],
      ["metadata=novalue", "metadata"],
      ["q=%21%21%21", "q"],
      ["tenant=acme", "tenant"],
      ["model=dall-e", "model"],
      ["colour=red", "colour"],
    ];
    for (const [query, name] of bad) {
      for (const path of ["/admin/api/jobs", "/admin/api/jobs/count"]) {
        const res = await h.request("GET", `${path}?${query}`, { headers: admin });
        expect(res.status, `${path}?${query}`).toBe(400);
        const body = (await res.json()) as { errors?: { path: string }[]; detail: string };
        expect(JSON.stringify(body), query).toContain(name);
      }
    }
  });
});
