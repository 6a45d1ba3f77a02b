import { type TrendWindow, trendCreatedSql, trendDeliveriesSql, trendFinishedSql, trendRange } from "@darkroom/db";
import type { AdminTrends } from "@darkroom/domain";
import { testPool } from "@darkroom/testing";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, type ApiHarness, startApiHarness } from "./harness";

/**
 * The overview's charts (GET /admin/api/trends): right for a small known set of jobs and
 * deliveries, and each statement reads its window through an index among 100,000 of each.
 */

let h: ApiHarness;
let sql: pg.Pool;
let tenantId: string;
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const ROWS = 100_000;
const MINUTE = 60_000;
/** Start of the current minute, 30 and 10 minutes back: the known set's times, minute-aligned. */
const base = Math.floor(Date.now() / MINUTE) * MINUTE;
const at = (minutesAgo: number, plusSeconds = 0) => new Date(base - minutesAgo * MINUTE + plusSeconds * 1000);

const JOB_COLUMNS = `id, "tenantId", status, model, "resultModel", prompt, n, size, quality, "maxAttempts",
  "deadlineSeconds", "deadlineAt", "webhookEvents", metadata, "errorCode", "fallbackUsed", "createdAt", "finishedAt", "updatedAt"`;

beforeAll(async () => {
  h = await startApiHarness("admintrends");
  sql = testPool(h.databaseUrl, 2);
  tenantId = (await h.newTenant("Acme")).tenantId;
  // The known set, all within the last hour.
  const known: [string, string, string | null, string | null, boolean, Date, Date | null][] = [
    ["job_0000000000000000000000000A", "succeeded", "gpt-image-1", null, false, at(30), at(30, 10)],
    ["job_0000000000000000000000000B", "succeeded", "gpt-image-1", null, true, at(30), at(30, 20)],
    ["job_0000000000000000000000000C", "failed", null, "upstream_timeout", false, at(10), at(10, 5)],
    ["job_0000000000000000000000000D", "failed", null, "upstream_timeout", false, at(10), at(10, 6)],
    ["job_0000000000000000000000000E", "failed", null, "content_policy", false, at(10), at(10, 7)],
    ["job_0000000000000000000000000F", "queued", null, null, false, at(5), null],
  ];
  for (const [id, status, resultModel, errorCode, fallbackUsed, createdAt, finishedAt] of known) {
    await sql.query(
      `INSERT INTO "Job" (${JOB_COLUMNS}) VALUES ($1, $2, $3::"JobStatus", 'gpt-image-1', $4, 'a fox', 1, '1024x1024',
         'auto', 3, 600, now(), '{}', '{}', $5, $6, $7, $8, now())`,
      [id, tenantId, status, resultModel, errorCode, fallbackUsed, createdAt, finishedAt],
    );
  }
  await sql.query(
    `INSERT INTO "JobEvent" (id, "jobId", "tenantId", type, data) VALUES ('evt_known', 'job_0000000000000000000000000A', $1, 'job.succeeded', '{}')`,
    [tenantId],
  );
  const delivery = (id: string, status: string, sentAt: Date | null) =>
    sql.query(
      `INSERT INTO "WebhookDelivery" (id, "eventId", "jobId", "tenantId", url, "attemptNumber", status, "sentAt")
       VALUES ($1, 'evt_known', 'job_0000000000000000000000000A', $2, 'http://127.0.0.1/hook', 1, $3, $4)`,
      [id, tenantId, status, sentAt],
    );
  await delivery("whd_known_1", "succeeded", at(20, 1));
  await delivery("whd_known_2", "succeeded", at(20, 2));
  await delivery("whd_known_3", "failed", at(15, 1));
  await delivery("whd_known_4", "pending", null);
}, 60_000);
afterAll(async () => {
  await sql?.end();
  await h?.close();
});

const trends = async (window: string): Promise<AdminTrends> => {
  const res = await h.request("GET", `/admin/api/trends?window=${window}`, { headers: admin });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as AdminTrends;
};
/** A series with `value` at the buckets of the given times and zeros elsewhere. */
const sparse = (t: AdminTrends, entries: [Date, number][]) => {
  const series = Array.from({ length: t.buckets }, () => 0);
  for (const [time, value] of entries) {
    const index = Math.floor((time.getTime() - Date.parse(t.from)) / (t.bucket_seconds * 1000));
    series[index] = (series[index] ?? 0) + value;
  }
  return series;
};

describe("GET /admin/api/trends", () => {
  it("counts a known set per minute over the last hour", async () => {
    const t = await trends("1h");
    expect(t.buckets).toBe(60);
    expect(t.bucket_seconds).toBe(60);
    expect(t.created).toEqual(
      sparse(t, [
        [at(30), 2],
        [at(10), 3],
        [at(5), 1],
      ]),
    );
    expect(t.succeeded).toEqual(sparse(t, [[at(30), 2]]));
    expect(t.failed).toEqual(sparse(t, [[at(10), 3]]));
    expect(t.fallback_used).toEqual(sparse(t, [[at(30), 1]]));
    expect(t.errors_by_code).toEqual({
      upstream_timeout: sparse(t, [[at(10), 2]]),
      content_policy: sparse(t, [[at(10), 1]]),
    });
    const index = sparse(t, [[at(30), 1]]).indexOf(1);
    const durations = t.duration_by_model["gpt-image-1"];
    expect(durations?.p50[index]).toBeCloseTo(15);
    expect(durations?.p95[index]).toBeCloseTo(19.5);
    expect(durations?.p50.filter((v) => v !== null)).toHaveLength(1);
    expect(t.deliveries_succeeded).toEqual(sparse(t, [[at(20), 2]]));
    expect(t.deliveries_failed).toEqual(sparse(t, [[at(15), 1]]));
  });

  it("has 288 five-minute buckets over the last day, and refuses any other window by name", async () => {
    const t = await trends("24h");
    expect(t.buckets).toBe(288);
    expect(t.created.reduce((a, b) => a + b, 0)).toBe(6);
    const bad = await h.request("GET", "/admin/api/trends?window=7d", { headers: admin });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("window");
    expect((await h.request("GET", "/admin/api/trends?window=1h")).status).toBe(401);
  });

  it("reads each window through an index among 100,000 jobs and deliveries", async () => {
    // 100,000 jobs and deliveries spread over the 10 days before the known set (so a day's window
    // holds about a tenth of them, an hour's none), then ANALYZE as autovacuum would.
    await sql.query(
      `INSERT INTO "Job" (${JOB_COLUMNS})
       SELECT 'job_' || lpad(upper(to_hex(g)), 26, 'Z'), $1,
         (ARRAY['queued','running','succeeded','failed','canceled'])[1 + g % 5]::"JobStatus", 'gpt-image-1',
         CASE WHEN g % 5 = 2 THEN 'gpt-image-1' END, 'a fox', 1, '1024x1024', 'auto', 3, 600, now(), '{}', '{}',
         CASE WHEN g % 5 = 3 THEN 'upstream_timeout' END, g % 11 = 0,
         $2::timestamptz - make_interval(secs => g * 8.64),
         CASE WHEN g % 5 >= 2 THEN $2::timestamptz - make_interval(secs => g * 8.64 - 3) END, now()
       FROM generate_series(1, ${ROWS}) g`,
      [tenantId, at(61)],
    );
    await sql.query(
      `INSERT INTO "WebhookDelivery" (id, "eventId", "jobId", "tenantId", url, "attemptNumber", status, "sentAt")
       SELECT 'whd_' || g, 'evt_known', 'job_0000000000000000000000000A', $1, 'http://127.0.0.1/hook', 1,
         CASE WHEN g % 4 = 0 THEN 'failed' ELSE 'succeeded' END, $2::timestamptz - make_interval(secs => g * 8.64)
       FROM generate_series(1, ${ROWS}) g`,
      [tenantId, at(61)],
    );
    await sql.query(`ANALYZE "Job"; ANALYZE "WebhookDelivery"`);
    for (const window of ["1h", "24h"] as TrendWindow[]) {
      const range = trendRange(window, new Date());
      for (const [statement, index] of [
        [trendCreatedSql(range), "Job_createdAt_idx"],
        [trendFinishedSql(range), "Job_finishedAt_idx"],
        [trendDeliveriesSql(range), "WebhookDelivery_sentAt_idx"],
      ] as const) {
        const { rows } = await sql.query<{ "QUERY PLAN": string }>(
          `EXPLAIN ${statement.text}`,
          statement.values as unknown[],
        );
        const plan = rows.map((r) => r["QUERY PLAN"]).join("\n");
        expect(plan, `${window}: ${statement.text}`).toContain(index);
        expect(plan).not.toContain("Seq Scan");
      }
    }
    // The last hour still holds the known set only; the day, the known set and what the bulk put in it.
    expect((await trends("1h")).created.reduce((a, b) => a + b, 0)).toBe(6);
    const day = await trends("24h");
    const { rows } = await sql.query<{ n: string }>(`SELECT count(*) AS n FROM "Job" WHERE "createdAt" >= $1`, [
      day.from,
    ]);
    expect(day.created.reduce((a, b) => a + b, 0)).toBe(Number(rows[0]?.n));
    expect(Number(rows[0]?.n)).toBeGreaterThan(9_000);
  }, 120_000);
});
