// The usage report of one tenant, as GET /v1/usage, the admin API and the CLI answer it.
import { type DbClient, findTenant, readTenantLimits, readUsageReport } from "@darkroom/db";
import { type ModelPrices, resolveUsageRange, UsageQuerySchema, type UsageReport } from "@darkroom/domain";
import { parseOrThrow } from "./http/validate";

/**
 * The tenant's usage for a query's `from`, `to` and `group_by` (validated here: a bad value throws
 * `validation_failed` naming it), with its limits and what is used of them; null when there is no
 * such tenant.
 */
export async function buildUsageReport(
  db: DbClient,
  prices: ModelPrices,
  tenantId: string,
  query: unknown,
  now: Date = new Date(),
): Promise<UsageReport | null> {
  const range = resolveUsageRange(parseOrThrow(UsageQuerySchema, query, "query"), now);
  const tenant = await findTenant(db, tenantId);
  if (tenant === null) return null;
  const [report, limits] = await Promise.all([
    readUsageReport(db, tenantId, range),
    readTenantLimits(db, tenant, prices, now),
  ]);
  return {
    object: "usage",
    from: range.from.toISOString(),
    to: range.to.toISOString(),
    group_by: range.groupBy,
    ...report,
    limits,
  };
}
