import { type AdminOverview, JOB_STATUSES } from "@darkroom/domain";
import type { PrismaClient } from "./client";
import { JOB_INCLUDE, type JobRecord } from "./jobs";

/** The overview without the parts read elsewhere (queue counts and admission from Redis, the time). */
export type Overview = Omit<AdminOverview, "queue" | "admission" | "upstream_quota" | "circuits" | "generated_at">;

/** The whole system at a glance, for the dashboard (all tenants). */
export async function readOverview(db: PrismaClient): Promise<Overview> {
  const hourAgo = new Date(Date.now() - 3_600_000);
  const [byStatus, lastHour, attempts, errors, webhooks] = await Promise.all([
    db.job.groupBy({ by: ["status"], _count: { _all: true } }),
    db.$queryRaw<
      {
        created: bigint;
        succeeded: bigint;
        failed: bigint;
        fallback_used: bigint;
        p50: number | null;
        p95: number | null;
      }[]
    >`SELECT count(*) AS created,
        count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
        count(*) FILTER (WHERE status = 'failed') AS failed,
        count(*) FILTER (WHERE "fallbackUsed") AS fallback_used,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM "finishedAt" - "createdAt"))
          FILTER (WHERE status = 'succeeded') AS p50,
        percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM "finishedAt" - "createdAt"))
          FILTER (WHERE status = 'succeeded') AS p95
      FROM "Job" WHERE "createdAt" >= ${hourAgo}`,
    db.jobAttempt.groupBy({ by: ["status"], where: { startedAt: { gte: hourAgo } }, _count: { _all: true } }),
    db.jobAttempt.groupBy({
      by: ["errorCode"],
      where: { startedAt: { gte: hourAgo }, errorCode: { not: null } },
      _count: { _all: true },
    }),
    db.webhookDelivery.groupBy({
      by: ["status"],
      where: { OR: [{ status: "pending" }, { sentAt: { gte: hourAgo } }] },
      _count: { _all: true },
    }),
  ]);
  const count = <T extends { _count: { _all: number } }>(rows: T[], pick: (r: T) => boolean) =>
    rows.filter(pick).reduce((sum, r) => sum + r._count._all, 0);
  const hour = lastHour[0];
  return {
    jobs: Object.fromEntries(JOB_STATUSES.map((s) => [s, count(byStatus, (r) => r.status === s)])) as Overview["jobs"],
    last_hour: {
      created: Number(hour?.created ?? 0),
      succeeded: Number(hour?.succeeded ?? 0),
      failed: Number(hour?.failed ?? 0),
      attempts: count(attempts, () => true),
      failed_attempts: count(attempts, (r) => r.status === "failed"),
      fallback_used: Number(hour?.fallback_used ?? 0),
      p50_seconds: hour?.p50 === null || hour?.p50 === undefined ? null : Number(hour.p50),
      p95_seconds: hour?.p95 === null || hour?.p95 === undefined ? null : Number(hour.p95),
    },
    errors_last_hour: errors
      .map((r) => ({ code: r.errorCode ?? "", count: r._count._all }))
      .sort((a, b) => b.count - a.count),
    webhooks: {
      pending: count(webhooks, (r) => r.status === "pending"),
      succeeded_last_hour: count(webhooks, (r) => r.status === "succeeded"),
      failed_last_hour: count(webhooks, (r) => r.status === "failed"),
    },
  };
}

export type AdminJobRecord = JobRecord & { tenant: { name: string } };

export async function findAnyJob(db: PrismaClient, id: string): Promise<AdminJobRecord | null> {
  return db.job.findUnique({ where: { id }, include: { ...JOB_INCLUDE, tenant: { select: { name: true } } } });
}

/**
 * Events of every job after a global seq, and those of `missing` (seqs below it that were not
 * committed when last read): the dashboard's live feed, in seq order.
 */
export async function listEventsAfter(db: PrismaClient, afterSeq: bigint, limit = 500, missing: bigint[] = []) {
  return db.jobEvent.findMany({
    where:
      missing.length === 0 ? { seq: { gt: afterSeq } } : { OR: [{ seq: { gt: afterSeq } }, { seq: { in: missing } }] },
    orderBy: { seq: "asc" },
    take: limit,
  });
}

/** Several jobs of any tenant, with their tenants' names (the live feed's rows); missing ids are left out. */
export async function findAnyJobs(db: PrismaClient, ids: string[]): Promise<AdminJobRecord[]> {
  if (ids.length === 0) return [];
  return db.job.findMany({
    where: { id: { in: ids } },
    include: { ...JOB_INCLUDE, tenant: { select: { name: true } } },
    relationLoadStrategy: "join",
  });
}

export async function latestEventSeq(db: PrismaClient): Promise<bigint> {
  const row = await db.jobEvent.findFirst({ orderBy: { seq: "desc" }, select: { seq: true } });
  return row?.seq ?? 0n;
}
