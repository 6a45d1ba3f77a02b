import type { AdminTrends } from "@darkroom/domain";
import type { PrismaClient } from "./client";
import { Prisma } from "./generated/prisma/client";

/** The windows the console charts: the last hour in 1-minute buckets, the last day in 5-minute ones. */
export const TREND_WINDOWS = {
  "1h": { seconds: 3_600, bucketSeconds: 60 },
  "24h": { seconds: 86_400, bucketSeconds: 300 },
} as const;
export type TrendWindow = keyof typeof TREND_WINDOWS;

/** The buckets of a window that ends at `now`: aligned to whole buckets, oldest first, the last one still filling. */
export interface TrendRange {
  from: Date;
  bucketSeconds: number;
  buckets: number;
}

export function trendRange(window: TrendWindow, now: Date): TrendRange {
  const { seconds, bucketSeconds } = TREND_WINDOWS[window];
  const step = bucketSeconds * 1000;
  const lastStart = Math.floor(now.getTime() / step) * step;
  const buckets = seconds / bucketSeconds;
  return { from: new Date(lastStart - (buckets - 1) * step), bucketSeconds, buckets };
}

/**
 * The bucket of a timestamp column: its start, as seconds since the window's start divided by the
 * bucket width (an integer index, 0 = oldest). Every statement filters `column >= from` first, so
 * each reads only the window's rows through that column's index ("Job"("createdAt"),
 * "Job"("finishedAt"), "WebhookDelivery"("sentAt")), never the whole table.
 */
const bucketOf = (column: Prisma.Sql, range: TrendRange) =>
  Prisma.sql`floor(extract(epoch FROM ${column} - ${range.from}::timestamptz) / ${range.bucketSeconds})::int`;

/** Jobs created per bucket. */
export const trendCreatedSql = (range: TrendRange) =>
  Prisma.sql`SELECT ${bucketOf(Prisma.sql`"createdAt"`, range)} AS bucket, count(*) AS created
    FROM "Job" WHERE "createdAt" >= ${range.from} GROUP BY 1`;

/** Jobs that ended per bucket (by when they ended): outcomes, fallback use, error codes and durations per model. */
export const trendFinishedSql = (range: TrendRange) =>
  Prisma.sql`SELECT ${bucketOf(Prisma.sql`"finishedAt"`, range)} AS bucket,
      status::text AS status, coalesce("resultModel", model) AS model, "errorCode" AS error_code,
      count(*) AS jobs,
      count(*) FILTER (WHERE "fallbackUsed") AS fallback_used,
      percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM "finishedAt" - "createdAt")) AS p50,
      percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM "finishedAt" - "createdAt")) AS p95
    FROM "Job" WHERE "finishedAt" >= ${range.from} GROUP BY 1, 2, 3, 4`;

/** Webhook deliveries sent per bucket, by outcome. */
export const trendDeliveriesSql = (range: TrendRange) =>
  Prisma.sql`SELECT ${bucketOf(Prisma.sql`"sentAt"`, range)} AS bucket, status, count(*) AS deliveries
    FROM "WebhookDelivery" WHERE "sentAt" >= ${range.from} GROUP BY 1, 2`;

/**
 * The charts' series, one value per bucket (index 0 = oldest): `GET /admin/api/trends` as the
 * domain describes it, without what the route adds (the window asked for, when it was read).
 */
export type Trends = Omit<AdminTrends, "window" | "generated_at">;

/** Reads every series of a window (three statements, each over the window's rows only). */
export async function readTrends(db: PrismaClient, window: TrendWindow, now = new Date()): Promise<Trends> {
  const range = trendRange(window, now);
  const [created, finished, deliveries] = await Promise.all([
    db.$queryRaw<{ bucket: number; created: bigint }[]>(trendCreatedSql(range)),
    db.$queryRaw<
      {
        bucket: number;
        status: string;
        model: string;
        error_code: string | null;
        jobs: bigint;
        fallback_used: bigint;
        p50: number | null;
        p95: number | null;
      }[]
    >(trendFinishedSql(range)),
    db.$queryRaw<{ bucket: number; status: string; deliveries: bigint }[]>(trendDeliveriesSql(range)),
  ]);
  const zeros = () => Array.from({ length: range.buckets }, () => 0);
  const nulls = () => Array.from({ length: range.buckets }, (): number | null => null);
  // Rows stamped ahead of `now` (clock skew between processes) fall outside the buckets: skipped.
  const inRange = (bucket: number) => bucket >= 0 && bucket < range.buckets;
  const trends: Trends = {
    from: range.from.toISOString(),
    bucket_seconds: range.bucketSeconds,
    buckets: range.buckets,
    created: zeros(),
    succeeded: zeros(),
    failed: zeros(),
    canceled: zeros(),
    fallback_used: zeros(),
    duration_by_model: {},
    errors_by_code: {},
    deliveries_succeeded: zeros(),
    deliveries_failed: zeros(),
  };
  for (const row of created) if (inRange(row.bucket)) trends.created[row.bucket] = Number(row.created);
  // Several rows per bucket (one per model and error code): counts add up; a model's percentiles
  // come from its one succeeded row (succeeded jobs carry no error code).
  for (const row of finished) {
    if (!inRange(row.bucket)) continue;
    const jobs = Number(row.jobs);
    if (row.status === "succeeded") {
      trends.succeeded[row.bucket] = (trends.succeeded[row.bucket] ?? 0) + jobs;
      trends.fallback_used[row.bucket] = (trends.fallback_used[row.bucket] ?? 0) + Number(row.fallback_used);
      trends.duration_by_model[row.model] ??= { p50: nulls(), p95: nulls() };
      const series = trends.duration_by_model[row.model];
      if (series !== undefined) {
        series.p50[row.bucket] = row.p50 === null ? null : Number(row.p50);
        series.p95[row.bucket] = row.p95 === null ? null : Number(row.p95);
      }
    } else if (row.status === "failed") {
      trends.failed[row.bucket] = (trends.failed[row.bucket] ?? 0) + jobs;
      const code = row.error_code ?? "unknown";
      trends.errors_by_code[code] ??= zeros();
      const series = trends.errors_by_code[code];
      if (series !== undefined) series[row.bucket] = (series[row.bucket] ?? 0) + jobs;
    } else if (row.status === "canceled") {
      trends.canceled[row.bucket] = (trends.canceled[row.bucket] ?? 0) + jobs;
    }
  }
  for (const row of deliveries) {
    if (!inRange(row.bucket)) continue;
    const target = row.status === "succeeded" ? trends.deliveries_succeeded : trends.deliveries_failed;
    if (row.status === "succeeded" || row.status === "failed") target[row.bucket] = Number(row.deliveries);
  }
  return trends;
}
