import type { JobStatus } from "@darkroom/domain";
import type { AdminJobRecord } from "./admin-queries";
import type { PrismaClient } from "./client";
import { Prisma } from "./generated/prisma/client";
import { JOB_INCLUDE } from "./jobs";

/** The operator's filter over every tenant's jobs (the console's search, and later its bulk actions). */
export interface AdminJobFilter {
  status?: JobStatus[];
  /** The requested model. */
  model?: string;
  tenant?: string;
  createdAfter?: Date;
  createdBefore?: Date;
  errorCode?: string;
  fallbackUsed?: boolean;
  /** An exact job id, or words that must all be in the prompt (full text, 'simple' configuration). */
  q?: string;
  /** Every pair must be in the job's metadata (a string value, or the number or boolean it spells). */
  metadata?: [string, string][];
}

const JOB_ID = /^job_[0-9A-HJKMNP-TV-Z]{26}$/;

/** The metadata values `value` may stand for: the string itself, and the JSON scalar it spells. */
function metadataValues(value: string): unknown[] {
  const values: unknown[] = [value];
  if (value === "true" || value === "false") values.push(value === "true");
  else if (/^-?\d+(\.\d+)?$/.test(value) && Number.isFinite(Number(value))) values.push(Number(value));
  return values;
}

/**
 * The filter as SQL conditions on "Job" (alias-free), each answered by an index: status by
 * ("status", id), tenant by ("tenantId", id), time by ("createdAt"), metadata by the GIN
 * jsonb_path_ops index, prompt words by the GIN full-text index "Job_prompt_search_idx" (the
 * expression here must stay the index's).
 */
export function adminJobConditions(filter: AdminJobFilter): Prisma.Sql {
  const parts: Prisma.Sql[] = [];
  if (filter.status !== undefined && filter.status.length > 0) {
    parts.push(Prisma.sql`status IN (${Prisma.join(filter.status.map((s) => Prisma.sql`${s}::"JobStatus"`))})`);
  }
  if (filter.model !== undefined) parts.push(Prisma.sql`model = ${filter.model}`);
  if (filter.tenant !== undefined) parts.push(Prisma.sql`"tenantId" = ${filter.tenant}`);
  if (filter.createdAfter !== undefined) parts.push(Prisma.sql`"createdAt" >= ${filter.createdAfter}`);
  if (filter.createdBefore !== undefined) parts.push(Prisma.sql`"createdAt" < ${filter.createdBefore}`);
  if (filter.errorCode !== undefined) parts.push(Prisma.sql`"errorCode" = ${filter.errorCode}`);
  if (filter.fallbackUsed !== undefined) parts.push(Prisma.sql`"fallbackUsed" = ${filter.fallbackUsed}`);
  if (filter.q !== undefined) {
    const q = filter.q.trim();
    parts.push(
      JOB_ID.test(q)
        ? Prisma.sql`id = ${q}`
        : Prisma.sql`to_tsvector('simple', prompt) @@ plainto_tsquery('simple', ${q})`,
    );
  }
  for (const [key, value] of filter.metadata ?? []) {
    const alternatives = metadataValues(value).map(
      (v) => Prisma.sql`metadata @> ${JSON.stringify({ [key]: v })}::jsonb`,
    );
    parts.push(Prisma.sql`(${Prisma.join(alternatives, " OR ")})`);
  }
  return parts.length === 0 ? Prisma.sql`TRUE` : Prisma.join(parts, " AND ");
}

/**
 * The statement of a page of matching ids, newest first. With prompt words or metadata, the
 * matches are read from their GIN index first (MATERIALIZED): otherwise the planner, guessing that
 * many rows match, may walk the primary key backwards and filter, reading the whole table when few do.
 */
export function adminJobPageSql(filter: AdminJobFilter, page: { limit: number; cursor?: string }): Prisma.Sql {
  const before = page.cursor === undefined ? Prisma.sql`TRUE` : Prisma.sql`id < ${page.cursor}`;
  const where = adminJobConditions(filter);
  const words = filter.q !== undefined && !JOB_ID.test(filter.q.trim());
  if (words || (filter.metadata?.length ?? 0) > 0) {
    return Prisma.sql`WITH matching AS MATERIALIZED (SELECT id FROM "Job" WHERE ${where})
      SELECT id FROM matching WHERE ${before} ORDER BY id DESC LIMIT ${page.limit + 1}`;
  }
  return Prisma.sql`SELECT id FROM "Job" WHERE ${where} AND ${before} ORDER BY id DESC LIMIT ${page.limit + 1}`;
}

/** A page of matching jobs, newest first, after `cursor` (the previous page's last id). */
export async function listAdminJobs(
  db: PrismaClient,
  filter: AdminJobFilter,
  page: { limit: number; cursor?: string },
): Promise<{ jobs: AdminJobRecord[]; nextCursor: string | null }> {
  const rows = await db.$queryRaw<{ id: string }[]>(adminJobPageSql(filter, page));
  const ids = rows.slice(0, page.limit).map((r) => r.id);
  const found = await db.job.findMany({
    where: { id: { in: ids } },
    include: { ...JOB_INCLUDE, tenant: { select: { name: true } } },
    relationLoadStrategy: "join",
  });
  const byId = new Map(found.map((job) => [job.id, job]));
  const jobs = ids.flatMap((id) => byId.get(id) ?? []);
  return { jobs, nextCursor: rows.length > page.limit ? (ids.at(-1) ?? null) : null };
}

/** How many jobs match (the console shows it, and a bulk action confirms it). */
export async function countAdminJobs(db: PrismaClient, filter: AdminJobFilter): Promise<number> {
  const rows = await db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM "Job" WHERE ${adminJobConditions(filter)}`;
  return Number(rows[0]?.n ?? 0);
}

/**
 * What a bulk action starts on, in one statement: how many jobs match, and the newest one's id (ids
 * grow with time; jobs created after it are not the action's), null when none does.
 */
export async function adminJobsExtent(
  db: PrismaClient,
  filter: AdminJobFilter,
): Promise<{ count: number; newestId: string | null }> {
  const rows = await db.$queryRaw<{ n: bigint; newest: string | null }[]>`
    SELECT count(*) AS n, max(id) AS newest FROM "Job" WHERE ${adminJobConditions(filter)}`;
  return { count: Number(rows[0]?.n ?? 0), newestId: rows[0]?.newest ?? null };
}

/**
 * Ids of matching jobs in ascending order after `afterId`, at most `limit`, none above `upTo`
 * (batches of a bulk action).
 */
export async function listAdminJobIds(
  db: PrismaClient,
  filter: AdminJobFilter,
  page: { afterId?: string; upTo?: string; limit: number },
): Promise<string[]> {
  const after = page.afterId === undefined ? Prisma.sql`TRUE` : Prisma.sql`id > ${page.afterId}`;
  const upTo = page.upTo === undefined ? Prisma.sql`TRUE` : Prisma.sql`id <= ${page.upTo}`;
  const rows = await db.$queryRaw<{ id: string }[]>`SELECT id FROM "Job"
    WHERE ${adminJobConditions(filter)} AND ${after} AND ${upTo} ORDER BY id ASC LIMIT ${page.limit}`;
  return rows.map((r) => r.id);
}
