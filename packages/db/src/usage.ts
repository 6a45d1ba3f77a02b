import {
  dayPeriod,
  fromMicroUsd,
  type LimitUsage,
  type ModelPrices,
  microPrices,
  monthPeriod,
  presentLimits,
  type UsageFigures,
  type UsageLimits,
  type UsageLimitsView,
  type UsageRange,
  type UsageRow,
  usageLimitRefusal,
  worstCaseMicroUsd,
} from "@darkroom/domain";
import type { DbClient } from "./client";
import { Prisma, type Tenant } from "./generated/prisma/client";

/**
 * The namespace of the per-tenant usage lock (two-key advisory locks live apart from one-key ones,
 * and this first key keeps them apart from any other two-key lock).
 */
const USAGE_LOCK_SPACE = 0x75736167; // "usag"

/** A job as the limits see it: what it may store, by which models. */
export interface LimitedJob {
  n: number;
  model: string;
  fallbackModel: string | null;
  hedgeAfterSeconds?: number | null;
}

/**
 * What the tenant has taken of its limits: images stored today and the estimated cost of this
 * month (succeeded jobs), plus what its queued and running jobs hold (their `n`, their worst-case
 * cost at `prices`). One aggregate over the tenant's live jobs and those finished this month.
 */
export async function readLimitUsage(
  db: DbClient,
  tenantId: string,
  prices: ModelPrices,
  now: Date = new Date(),
): Promise<LimitUsage> {
  const day = dayPeriod(now).start;
  const month = monthPeriod(now).start;
  const micros = JSON.stringify(microPrices(prices));
  const rows = await db.$queryRaw<
    { images_used: bigint; images_reserved: bigint; cost_used: bigint; cost_reserved: bigint }[]
  >`
    SELECT
      COALESCE(SUM("imagesStored") FILTER (WHERE status = 'succeeded' AND "finishedAt" >= ${day}), 0)::bigint AS images_used,
      COALESCE(SUM(n) FILTER (WHERE status IN ('queued', 'running')), 0)::bigint AS images_reserved,
      COALESCE(SUM("costUsd" * 1000000) FILTER (WHERE status = 'succeeded'), 0)::bigint AS cost_used,
      -- The worst case of worstCaseMicroUsd: a hedged job may pay for both calls.
      COALESCE(SUM(n * CASE WHEN "hedgeAfterSeconds" IS NULL
          THEN GREATEST(COALESCE((${micros}::jsonb ->> model)::bigint, 0),
                        COALESCE((${micros}::jsonb ->> "fallbackModel")::bigint, 0))
          ELSE COALESCE((${micros}::jsonb ->> model)::bigint, 0)
             + COALESCE((${micros}::jsonb ->> "fallbackModel")::bigint, 0) END)
        FILTER (WHERE status IN ('queued', 'running')), 0)::bigint AS cost_reserved
    FROM "Job"
    WHERE "tenantId" = ${tenantId}
      AND (status IN ('queued', 'running') OR "finishedAt" >= ${month})`;
  const row = rows[0];
  return {
    imagesUsed: Number(row?.images_used ?? 0),
    imagesReserved: Number(row?.images_reserved ?? 0),
    costUsedMicros: Number(row?.cost_used ?? 0),
    costReservedMicros: Number(row?.cost_reserved ?? 0),
  };
}

/**
 * The tenant's limits; when it has a quota or a budget, also takes its usage lock until the
 * transaction ends, so that checks and inserts of one tenant happen one after the other. In one
 * statement: a tenant without limits pays one primary-key read and never waits.
 */
async function lockLimits(tx: DbClient, tenantId: string): Promise<UsageLimits | null> {
  const rows = await tx.$queryRaw<{ images_per_day: number | null; monthly_budget_usd: Prisma.Decimal | null }[]>`
    SELECT "imagesPerDay" AS images_per_day, "monthlyBudgetUsd" AS monthly_budget_usd,
      CASE WHEN "imagesPerDay" IS NOT NULL OR "monthlyBudgetUsd" IS NOT NULL
        THEN pg_advisory_xact_lock(${USAGE_LOCK_SPACE}::int, hashtext(id))::text END AS locked
    FROM "Tenant" WHERE id = ${tenantId}`;
  const row = rows[0];
  if (row === undefined) return null;
  return {
    imagesPerDay: row.images_per_day,
    monthlyBudgetUsd: row.monthly_budget_usd === null ? null : Number(row.monthly_budget_usd),
  };
}

export interface EnforceLimitsInput {
  tenantId: string;
  job: LimitedJob;
  prices: ModelPrices;
  /** A create with this key that finds its job already there is a replay: never refused. */
  idempotencyKey?: string | null;
  now?: Date;
}

/**
 * Inside the transaction that creates (or re-queues) a job: throws `quota_exceeded` or
 * `budget_exceeded` when the job would take the tenant past `images_per_day` or
 * `monthly_budget_usd`, counting what its queued and running jobs hold. Holds the tenant's usage
 * lock until the transaction ends, so concurrent creates are checked one at a time and together
 * cannot pass a limit. Throwing rolls the transaction back: a refused job leaves nothing behind.
 */
export async function enforceUsageLimits(tx: DbClient, input: EnforceLimitsInput): Promise<void> {
  const limits = await lockLimits(tx, input.tenantId);
  if (limits === null || (limits.imagesPerDay === null && limits.monthlyBudgetUsd === null)) return;
  if (input.idempotencyKey !== undefined && input.idempotencyKey !== null) {
    // A concurrent request with the same key committed while this one waited for the lock: the
    // insert will hit the unique key and the caller answers that job, as a replay.
    const existing = await tx.job.findUnique({
      where: { tenantId_idempotencyKey: { tenantId: input.tenantId, idempotencyKey: input.idempotencyKey } },
      select: { id: true },
    });
    if (existing !== null) return;
  }
  const now = input.now ?? new Date();
  const usage = await readLimitUsage(tx, input.tenantId, input.prices, now);
  const refusal = usageLimitRefusal(
    limits,
    usage,
    { images: input.job.n, costMicros: worstCaseMicroUsd(input.prices, input.job) },
    now,
  );
  if (refusal !== null) throw refusal;
}

/** The tenant's limits with what is used of each (no query for a tenant without limits). */
export async function readTenantLimits(
  db: DbClient,
  tenant: Pick<Tenant, "id" | "imagesPerDay" | "monthlyBudgetUsd">,
  prices: ModelPrices,
  now: Date = new Date(),
): Promise<UsageLimitsView> {
  const limits: UsageLimits = {
    imagesPerDay: tenant.imagesPerDay,
    monthlyBudgetUsd: tenant.monthlyBudgetUsd === null ? null : tenant.monthlyBudgetUsd.toNumber(),
  };
  if (limits.imagesPerDay === null && limits.monthlyBudgetUsd === null) {
    return { images_per_day: null, monthly_budget_usd: null };
  }
  return presentLimits(limits, await readLimitUsage(db, tenant.id, prices, now), now);
}

interface FiguresRow {
  key: string | null;
  jobs_succeeded: bigint;
  jobs_failed: bigint;
  images: bigint;
  tokens: bigint;
  cost_micros: bigint;
}

const figures = (row: FiguresRow | undefined): UsageFigures => ({
  jobs_succeeded: Number(row?.jobs_succeeded ?? 0),
  jobs_failed: Number(row?.jobs_failed ?? 0),
  images: Number(row?.images ?? 0),
  tokens: Number(row?.tokens ?? 0),
  cost_usd: fromMicroUsd(Number(row?.cost_micros ?? 0)),
});

/**
 * Usage of the tenant's jobs that finished (succeeded or failed) in [from, to), by UTC day or by
 * model (the model that stored the images; a failed job counts under the model it asked for), and
 * in total. Days and models without finished jobs are left out. One aggregate with a rollup on
 * (tenantId, finishedAt).
 */
export async function readUsageReport(
  db: DbClient,
  tenantId: string,
  range: UsageRange,
): Promise<{ data: UsageRow[]; totals: UsageFigures }> {
  const key =
    range.groupBy === "day"
      ? Prisma.sql`to_char("finishedAt" AT TIME ZONE 'UTC', 'YYYY-MM-DD')`
      : Prisma.sql`COALESCE("resultModel", model)`;
  const rows = await db.$queryRaw<FiguresRow[]>`
    SELECT ${key} AS key,
      count(*) FILTER (WHERE status = 'succeeded') AS jobs_succeeded,
      count(*) FILTER (WHERE status = 'failed') AS jobs_failed,
      COALESCE(SUM("imagesStored") FILTER (WHERE status = 'succeeded'), 0)::bigint AS images,
      COALESCE(SUM(CASE WHEN status = 'succeeded' AND jsonb_typeof(usage -> 'total_tokens') = 'number'
        THEN (usage ->> 'total_tokens')::numeric END), 0)::bigint AS tokens,
      COALESCE(SUM("costUsd" * 1000000) FILTER (WHERE status = 'succeeded'), 0)::bigint AS cost_micros
    FROM "Job"
    WHERE "tenantId" = ${tenantId} AND "finishedAt" >= ${range.from} AND "finishedAt" < ${range.to}
      AND status IN ('succeeded', 'failed')
    GROUP BY ROLLUP (1)
    ORDER BY 1 NULLS LAST`;
  const groups = rows.filter((row) => row.key !== null);
  const label = range.groupBy;
  return {
    data: groups.map((row) => ({ [label]: row.key ?? "", ...figures(row) }) as UsageRow),
    totals: figures(rows.find((row) => row.key === null)),
  };
}
