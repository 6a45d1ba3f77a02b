import { z } from "zod";
import { AppError, type UsageLimitRefusal, usageLimitError } from "./errors";

/**
 * Money is counted in whole micro-dollars (USD / 1,000,000): prices have at most 6 decimals, so
 * every sum and comparison is exact (Postgres stores the same amounts as `numeric(14,6)`).
 */
export type MicroUsd = number;

/** USD per stored image, by model (the parsed `MODEL_PRICES`). */
export type ModelPrices = Readonly<Record<string, number>>;

export function toMicroUsd(usd: number): MicroUsd {
  return Math.round(usd * 1_000_000);
}

export function fromMicroUsd(micros: MicroUsd): number {
  return micros / 1_000_000;
}

/** The price table in micro-dollars, as the usage queries take it. */
export function microPrices(prices: ModelPrices): Record<string, MicroUsd> {
  return Object.fromEntries(Object.entries(prices).map(([model, usd]) => [model, toMicroUsd(usd)]));
}

/** What `images` images stored by `model` are estimated to cost. */
export function imagesCostMicroUsd(prices: ModelPrices, model: string, images: number): MicroUsd {
  return toMicroUsd(prices[model] ?? 0) * images;
}

/**
 * The most a job can cost: a job stores at most `n` images once, by its model or its fallback,
 * so `n` times the higher of the two prices.
 */
export function worstCaseMicroUsd(
  prices: ModelPrices,
  job: { n: number; model: string; fallbackModel: string | null; hedgeAfterSeconds?: number | null },
): MicroUsd {
  const primary = imagesCostMicroUsd(prices, job.model, 1);
  const fallback = job.fallbackModel === null ? 0 : imagesCostMicroUsd(prices, job.fallbackModel, 1);
  // A hedged job may pay for both calls: the aborted one can be billed too.
  const hedged = job.hedgeAfterSeconds !== undefined && job.hedgeAfterSeconds !== null;
  return job.n * (hedged ? primary + fallback : Math.max(primary, fallback));
}

/** A tenant's limits as stored (null = none). */
export interface UsageLimits {
  imagesPerDay: number | null;
  monthlyBudgetUsd: number | null;
}

/** What a tenant has taken of its limits now. */
export interface LimitUsage {
  /** Images stored by jobs that succeeded since the start of the UTC day. */
  imagesUsed: number;
  /** `n` of the tenant's queued and running jobs. */
  imagesReserved: number;
  /** Estimated cost of jobs that succeeded since the start of the UTC month. */
  costUsedMicros: MicroUsd;
  /** Worst-case cost of the tenant's queued and running jobs. */
  costReservedMicros: MicroUsd;
}

/** The UTC day of `now`: its start, and the start of the next one (when `images_per_day` resets). */
export function dayPeriod(now: Date): { start: Date; resetsAt: Date } {
  const start = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return { start: new Date(start), resetsAt: new Date(start + 86_400_000) };
}

/** The UTC month of `now`: its first instant, and the next month's (when `monthly_budget_usd` resets). */
export function monthPeriod(now: Date): { start: Date; resetsAt: Date } {
  return {
    start: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)),
    resetsAt: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)),
  };
}

/** One limit with what is taken of it, as `GET /v1/usage` shows it; null when the tenant has none. */
export interface UsageLimitView {
  limit: number;
  /** Taken in the current period by succeeded jobs. */
  used: number;
  /** Held by queued and running jobs (their `n`, or their worst-case cost). */
  reserved: number;
  /** What a new job may still take: `limit - used - reserved`, at least 0. */
  remaining: number;
  resets_at: string;
}

export interface UsageLimitsView {
  images_per_day: UsageLimitView | null;
  monthly_budget_usd: UsageLimitView | null;
}

/** The tenant's limits with what is used of each. */
export function presentLimits(limits: UsageLimits, usage: LimitUsage, now: Date): UsageLimitsView {
  const budgetMicros = limits.monthlyBudgetUsd === null ? null : toMicroUsd(limits.monthlyBudgetUsd);
  return {
    images_per_day:
      limits.imagesPerDay === null
        ? null
        : {
            limit: limits.imagesPerDay,
            used: usage.imagesUsed,
            reserved: usage.imagesReserved,
            remaining: Math.max(0, limits.imagesPerDay - usage.imagesUsed - usage.imagesReserved),
            resets_at: dayPeriod(now).resetsAt.toISOString(),
          },
    monthly_budget_usd:
      budgetMicros === null
        ? null
        : {
            limit: fromMicroUsd(budgetMicros),
            used: fromMicroUsd(usage.costUsedMicros),
            reserved: fromMicroUsd(usage.costReservedMicros),
            remaining: fromMicroUsd(Math.max(0, budgetMicros - usage.costUsedMicros - usage.costReservedMicros)),
            resets_at: monthPeriod(now).resetsAt.toISOString(),
          },
  };
}

const secondsUntil = (at: Date, now: Date) => Math.max(1, Math.ceil((at.getTime() - now.getTime()) / 1000));

/**
 * The refusal of a job that would take `request` (its `n` and worst-case cost) on top of `usage`,
 * or null when it fits both limits. The images quota is checked first.
 */
export function usageLimitRefusal(
  limits: UsageLimits,
  usage: LimitUsage,
  request: { images: number; costMicros: MicroUsd },
  now: Date,
): AppError | null {
  if (limits.imagesPerDay !== null && usage.imagesUsed + usage.imagesReserved + request.images > limits.imagesPerDay) {
    const { resetsAt } = dayPeriod(now);
    const limit: UsageLimitRefusal = {
      name: "images_per_day",
      value: limits.imagesPerDay,
      used: usage.imagesUsed,
      reserved: usage.imagesReserved,
      requested: request.images,
      resets_at: resetsAt.toISOString(),
    };
    return usageLimitError(
      "quota_exceeded",
      `This job's ${request.images} image(s) would pass the tenant's images_per_day of ${limits.imagesPerDay}: ${usage.imagesUsed} stored today and ${usage.imagesReserved} held by queued or running jobs. The quota resets at ${limit.resets_at}.`,
      { retryAfterSeconds: secondsUntil(resetsAt, now), limit },
    );
  }
  if (limits.monthlyBudgetUsd !== null) {
    const budget = toMicroUsd(limits.monthlyBudgetUsd);
    if (usage.costUsedMicros + usage.costReservedMicros + request.costMicros > budget) {
      const { resetsAt } = monthPeriod(now);
      const limit: UsageLimitRefusal = {
        name: "monthly_budget_usd",
        value: fromMicroUsd(budget),
        used: fromMicroUsd(usage.costUsedMicros),
        reserved: fromMicroUsd(usage.costReservedMicros),
        requested: fromMicroUsd(request.costMicros),
        resets_at: resetsAt.toISOString(),
      };
      return usageLimitError(
        "budget_exceeded",
        `This job's worst-case estimated cost of ${limit.requested} USD would pass the tenant's monthly_budget_usd of ${limit.value}: ${limit.used} USD spent this month and ${limit.reserved} USD held by queued or running jobs. The budget resets at ${limit.resets_at}.`,
        { retryAfterSeconds: secondsUntil(resetsAt, now), limit },
      );
    }
  }
  return null;
}

export const USAGE_GROUPS = ["day", "model"] as const;
export type UsageGroup = (typeof USAGE_GROUPS)[number];

/** Longest `from`..`to` range one usage request may cover. */
export const USAGE_MAX_RANGE_DAYS = 366;

const isoDateTime = z.iso.datetime({ offset: true });
const isoDate = z.iso.date();
const INSTANT_MESSAGE =
  "must be an ISO 8601 date-time such as 2026-12-01T00:00:00Z, or a date such as 2026-12-01 (UTC midnight)";
const instant = z
  .string({ error: INSTANT_MESSAGE })
  .refine((v) => isoDateTime.safeParse(v).success || isoDate.safeParse(v).success, { message: INSTANT_MESSAGE });

/** Query of `GET /v1/usage` (and the admin's per-tenant usage). */
export const UsageQuerySchema = z.strictObject({
  from: instant.optional().describe("Start (inclusive); default: the first instant of the current UTC month"),
  to: instant.optional().describe("End (exclusive); default: now"),
  group_by: z
    .enum(USAGE_GROUPS, { error: `must be one of ${USAGE_GROUPS.join(", ")}` })
    .default("day")
    .describe("day (UTC) or model"),
});
export type UsageQuery = z.infer<typeof UsageQuerySchema>;

/** A usage range, resolved: defaults applied, checked for order and length. */
export interface UsageRange {
  from: Date;
  to: Date;
  groupBy: UsageGroup;
}

const rangeError = (path: string, message: string) =>
  new AppError("validation_failed", `${path} ${message}.`, { errors: [{ path, message }] });

/** Applies the defaults (this UTC month up to now) and refuses `from` after `to` or a range over 366 days. */
export function resolveUsageRange(query: UsageQuery, now: Date): UsageRange {
  const from = query.from === undefined ? monthPeriod(now).start : new Date(query.from);
  const to = query.to === undefined ? now : new Date(query.to);
  if (from.getTime() > to.getTime()) {
    throw rangeError("from", `must not be after to (${to.toISOString()})`);
  }
  if (to.getTime() - from.getTime() > USAGE_MAX_RANGE_DAYS * 86_400_000) {
    throw rangeError("to", `must be at most ${USAGE_MAX_RANGE_DAYS} days after from`);
  }
  return { from, to, groupBy: query.group_by };
}

/** Figures of finished jobs (a usage row or the totals). */
export interface UsageFigures {
  jobs_succeeded: number;
  jobs_failed: number;
  /** Images stored. */
  images: number;
  /** `total_tokens` the upstream reported for the calls that produced them. */
  tokens: number;
  /** Estimated: the model's price times the images it stored. */
  cost_usd: number;
}

/** One row of a usage report: a UTC day (`YYYY-MM-DD`) or a model, with its figures. */
export type UsageRow = UsageFigures & ({ day: string } | { model: string });

/** `GET /v1/usage`. */
export interface UsageReport {
  object: "usage";
  from: string;
  to: string;
  group_by: UsageGroup;
  data: UsageRow[];
  totals: UsageFigures;
  limits: UsageLimitsView;
}
