import { DEFAULT_WEBHOOK_EVENTS, type JobCreate, type JobListQuery, newId } from "@darkroom/domain";
import { type DbClient, type PrismaClient, poolOf } from "./client";
import { Prisma } from "./generated/prisma/client";

export const JOB_INCLUDE = {
  attempts: { orderBy: { number: "asc" } },
  images: { orderBy: { index: "asc" } },
} as const satisfies Prisma.JobInclude;

export type JobRecord = Prisma.JobGetPayload<{ include: typeof JOB_INCLUDE }>;

export interface CreateJobInput {
  tenantId: string;
  input: JobCreate;
  idempotencyKey?: string | null;
  requestHash?: string | null;
  now?: Date;
  /** Runs in the transaction before the insert; throwing refuses the job (nothing is written). */
  guard?: (tx: DbClient) => Promise<void>;
  /**
   * The caller believes (from cached settings) that the tenant has no `images_per_day` and no
   * `monthly_budget_usd`, so `guard` has nothing to enforce: the job is written in one statement,
   * without a transaction, on condition that the tenant still has neither. When it has one after
   * all (the cache was stale), the job is written in a transaction after `guard`, as without this flag.
   */
  tenantUnlimited?: boolean;
}

/**
 * Thrown by `createJob` when the tenant already has a job with the idempotency key (a concurrent
 * request with the same key committed first): nothing was written.
 */
export class IdempotencyKeyTakenError extends Error {
  constructor(
    readonly tenantId: string,
    readonly idempotencyKey: string,
  ) {
    super(`The tenant already has a job with this Idempotency-Key.`);
    this.name = "IdempotencyKeyTakenError";
  }
}

type JobRow = Omit<JobRecord, "attempts" | "images">;

/** The tenant condition of an insert that applies only when the tenant has no quota and no budget. */
const UNLIMITED_TENANT = `SELECT 1 FROM "Tenant" WHERE id = $2 AND "imagesPerDay" IS NULL AND "monthlyBudgetUsd" IS NULL`;

/** The create statement; `$2` is the tenant id. Two texts in all (with and without the tenant condition). */
const insertJobSql = (tenant: string) => `
    WITH t AS (${tenant}),
    j AS (
      INSERT INTO "Job" (id, "tenantId", model, "fallbackModel", prompt, n, size, quality, "maxAttempts",
        "deadlineSeconds", "deadlineAt", "queueTimeoutSeconds", "queueExpiresAt", "hedgeAfterSeconds", priority, "webhookUrl", "webhookEvents", metadata, "idempotencyKey",
        "requestHash", "createdAt", "updatedAt")
      SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::int, $13::timestamptz, $14::int, $15::"JobPriority",
        $16, $17::text[], $18::jsonb, $19, $20, $21, $21
      FROM t
      ON CONFLICT ("tenantId", "idempotencyKey") DO NOTHING
      RETURNING *),
    e AS (
      INSERT INTO "JobEvent" (id, "jobId", "tenantId", type, data)
      SELECT $22, j.id, j."tenantId", 'job.queued', '{"status":"queued"}'::jsonb FROM j)
    SELECT j.*, EXISTS (SELECT 1 FROM t) AS tenant_unlimited FROM (SELECT 1) one LEFT JOIN j ON true`;
const INSERT_JOB_ANY_TENANT = insertJobSql("SELECT 1");
const INSERT_JOB_UNLIMITED_TENANT = insertJobSql(UNLIMITED_TENANT);

type InsertedRow = JobRow & { tenant_unlimited: boolean };

/**
 * The job row and its `job.queued` event in one statement (one round trip, one commit). With
 * `onlyUnlimited`, nothing is written when the tenant has a quota or a budget. A job whose
 * idempotency key the tenant already used is not written either (ON CONFLICT DO NOTHING: a
 * concurrent insert with the same key is waited for, then seen). `job.queued` is not a webhook
 * event type, so it never has an outbox row. Outside a transaction the statement goes to the pg
 * pool directly (`poolOf`), as the same named prepared statement Prisma would use.
 */
async function insertJobAndEvent(
  db: DbClient,
  args: CreateJobInput,
  id: string,
  now: Date,
  onlyUnlimited: boolean,
): Promise<{ job: JobRow | null; tenantUnlimited: boolean }> {
  const { input } = args;
  const text = onlyUnlimited ? INSERT_JOB_UNLIMITED_TENANT : INSERT_JOB_ANY_TENANT;
  const values = [
    id,
    args.tenantId,
    input.model,
    input.fallback_model,
    input.prompt,
    input.n,
    input.size,
    input.quality,
    input.max_attempts,
    input.deadline_seconds,
    new Date(now.getTime() + input.deadline_seconds * 1000),
    input.queue_timeout_seconds,
    input.queue_timeout_seconds === null ? null : new Date(now.getTime() + input.queue_timeout_seconds * 1000),
    input.hedge_after_seconds,
    input.priority,
    input.webhook_url,
    input.webhook_url === null ? [] : (input.webhook_events ?? DEFAULT_WEBHOOK_EVENTS),
    JSON.stringify(input.metadata),
    args.idempotencyKey ?? null,
    args.requestHash ?? null,
    now,
    newId("evt"),
  ];
  const direct = poolOf(db);
  let row: InsertedRow | undefined;
  if (direct === null) {
    row = (await db.$queryRawUnsafe<InsertedRow[]>(text, ...values))[0];
  } else {
    const result = await direct.pool.query<InsertedRow>({ name: direct.statements.nameOf(text), text, values });
    row = asPrismaRow(result.rows[0]);
  }
  if (row === undefined) throw new Error("job insert returned no row");
  const { tenant_unlimited: tenantUnlimited, ...job } = row;
  return { job: job.id === null ? null : (job as JobRow), tenantUnlimited };
}

/**
 * A `Job` row as pg parses it, typed as Prisma returns it: pg already gives timestamptz as Date,
 * jsonb parsed, text[] as an array, enums and text as strings, int4 as numbers; `numeric` comes
 * back as a string, Prisma's is a Decimal.
 */
function asPrismaRow(row: InsertedRow | undefined): InsertedRow | undefined {
  if (row === undefined || row.costUsd === null) return row;
  return { ...row, costUsd: new Prisma.Decimal(row.costUsd as unknown as string) };
}

/**
 * Writes the job and its first event (one statement): the durable row exists before any enqueue.
 * With a `guard` (the usage limits), the check and the insert share a transaction, unless the
 * tenant has no limits (`tenantUnlimited`, verified in the statement). Throws
 * `IdempotencyKeyTakenError` when the tenant already has a job with the key.
 */
export async function createJob(db: PrismaClient, args: CreateJobInput): Promise<JobRecord> {
  const now = args.now ?? new Date();
  const id = newId("job", now.getTime());
  const written = (job: JobRow | null): JobRecord => {
    if (job === null) throw new IdempotencyKeyTakenError(args.tenantId, args.idempotencyKey ?? "");
    // Nothing can have an attempt or an image yet: the row was inserted a moment ago.
    return { ...job, attempts: [], images: [] };
  };
  const guard = args.guard;
  if (guard === undefined || args.tenantUnlimited === true) {
    const { job, tenantUnlimited } = await insertJobAndEvent(db, args, id, now, guard !== undefined);
    if (tenantUnlimited) return written(job);
  }
  if (guard === undefined) throw new Error("unreachable: an unguarded insert always applies");
  // Waiting for a connection or for the tenant's usage lock is contention: it slows the create, it
  // does not fail it (Prisma's defaults, 2 s and 5 s, would fail it under load).
  return db.$transaction(
    async (tx) => {
      await guard(tx);
      return written((await insertJobAndEvent(tx, args, id, now, false)).job);
    },
    { maxWait: 30_000, timeout: 30_000 },
  );
}

// The single-job reads load the attempts and images in the same statement ("join": LATERAL JSON
// aggregation) rather than one query per relation: one round trip per read.

/** The job if it belongs to the tenant; another tenant's job is indistinguishable from a missing one. */
export async function findJobForTenant(db: DbClient, tenantId: string, id: string): Promise<JobRecord | null> {
  return db.job.findFirst({ where: { id, tenantId }, include: JOB_INCLUDE, relationLoadStrategy: "join" });
}

export async function findJobById(db: DbClient, id: string): Promise<JobRecord | null> {
  return db.job.findUnique({ where: { id }, include: JOB_INCLUDE, relationLoadStrategy: "join" });
}

export async function findJobByIdempotencyKey(db: DbClient, tenantId: string, key: string): Promise<JobRecord | null> {
  return db.job.findUnique({
    where: { tenantId_idempotencyKey: { tenantId, idempotencyKey: key } },
    include: JOB_INCLUDE,
    relationLoadStrategy: "join",
  });
}

/**
 * Newest first. Ids are time-sortable, so the cursor is simply the last id of the page: stable
 * under concurrent inserts (new jobs sort before the cursor and never shift a page).
 */
export async function listJobs(
  db: DbClient,
  tenantId: string,
  query: JobListQuery,
): Promise<{ jobs: JobRecord[]; nextCursor: string | null }> {
  const where: Prisma.JobWhereInput = { tenantId };
  if (query.status !== undefined) where.status = query.status;
  if (query.model !== undefined) where.model = query.model;
  if (query.result_model !== undefined) where.resultModel = query.result_model;
  if (query.cursor !== undefined) where.id = { lt: query.cursor };
  if (query.created_after !== undefined || query.created_before !== undefined) {
    where.createdAt = {
      ...(query.created_after === undefined ? {} : { gt: new Date(query.created_after) }),
      ...(query.created_before === undefined ? {} : { lt: new Date(query.created_before) }),
    };
  }
  const rows = await db.job.findMany({ where, orderBy: { id: "desc" }, take: query.limit + 1, include: JOB_INCLUDE });
  const hasMore = rows.length > query.limit;
  const jobs = hasMore ? rows.slice(0, query.limit) : rows;
  return { jobs, nextCursor: hasMore ? (jobs.at(-1)?.id ?? null) : null };
}

export async function findImage(db: DbClient, jobId: string, index: number) {
  return db.image.findUnique({ where: { jobId_index: { jobId, index } } });
}
