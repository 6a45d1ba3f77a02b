import { DEFAULT_WEBHOOK_EVENTS, type JobCreate, type JobListQuery, newId } from "@darkroom/domain";
import { CallBatcher } from "./call-batcher";
import { type DbClient, type PrismaClient, poolOf, poolRows } from "./client";
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

/**
 * The create statement for a batch of jobs: each job row and its `job.queued` event, for every
 * input row at once (one round trip, one commit for the batch). Each input is one element of every
 * array parameter (`unnest` keeps them in step); `$23` says whether the row applies only when its
 * tenant has no `imagesPerDay` and no `monthlyBudgetUsd` (otherwise nothing of it is written).
 * A row whose idempotency key the tenant already used is not written (ON CONFLICT DO NOTHING: a
 * concurrent insert with the same key is waited for, then seen). One answer row per input, in input
 * order, with the job's columns null when it was not written.
 */
const INSERT_JOBS = `
    WITH input AS (
      SELECT u.*, (NOT u.only_unlimited OR EXISTS (
          SELECT 1 FROM "Tenant" t WHERE t.id = u.tenant_id AND t."imagesPerDay" IS NULL AND t."monthlyBudgetUsd" IS NULL
        )) AS applies
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[],
        $9::int[], $10::int[], $11::timestamptz[], $12::int[], $13::timestamptz[], $14::int[], $15::text[],
        $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::timestamptz[], $22::text[], $23::bool[])
        WITH ORDINALITY AS u(id, tenant_id, model, fallback_model, prompt, n, size, quality, max_attempts,
          deadline_seconds, deadline_at, queue_timeout_seconds, queue_expires_at, hedge_after_seconds, priority,
          webhook_url, webhook_events, metadata, idempotency_key, request_hash, created_at, event_id, only_unlimited, ord)
    ),
    j AS (
      INSERT INTO "Job" (id, "tenantId", model, "fallbackModel", prompt, n, size, quality, "maxAttempts",
        "deadlineSeconds", "deadlineAt", "queueTimeoutSeconds", "queueExpiresAt", "hedgeAfterSeconds", priority,
        "webhookUrl", "webhookEvents", metadata, "idempotencyKey", "requestHash", "createdAt", "updatedAt")
      SELECT id, tenant_id, model, fallback_model, prompt, n, size, quality, max_attempts, deadline_seconds, deadline_at,
        queue_timeout_seconds, queue_expires_at, hedge_after_seconds, priority::"JobPriority", webhook_url,
        ARRAY(SELECT jsonb_array_elements_text(webhook_events::jsonb)), metadata::jsonb, idempotency_key, request_hash,
        created_at, created_at
      FROM input WHERE applies ORDER BY ord
      ON CONFLICT ("tenantId", "idempotencyKey") DO NOTHING
      RETURNING *),
    e AS (
      INSERT INTO "JobEvent" (id, "jobId", "tenantId", type, data)
      SELECT input.event_id, j.id, j."tenantId", 'job.queued', '{"status":"queued"}'::jsonb
      FROM j JOIN input ON input.id = j.id ORDER BY input.ord)
    SELECT j.*, input.applies AS tenant_unlimited
    FROM input LEFT JOIN j ON j.id = input.id ORDER BY input.ord`;

/** One job of a batched create: the caller's input, the new id and the time. */
interface InsertCall {
  args: CreateJobInput;
  id: string;
  now: Date;
  onlyUnlimited: boolean;
}

type InsertedRow = JobRow & { tenant_unlimited: boolean };

/** The array parameters of `INSERT_JOBS` for a batch: one array per column, one element per job. */
function insertParameters(calls: InsertCall[]): unknown[][] {
  const columns: unknown[][] = Array.from({ length: 23 }, () => []);
  for (const { args, id, now, onlyUnlimited } of calls) {
    const { input } = args;
    const row = [
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
      JSON.stringify(input.webhook_url === null ? [] : (input.webhook_events ?? DEFAULT_WEBHOOK_EVENTS)),
      JSON.stringify(input.metadata),
      args.idempotencyKey ?? null,
      args.requestHash ?? null,
      now,
      newId("evt"),
      onlyUnlimited,
    ];
    for (const [i, value] of row.entries()) columns[i]?.push(value);
  }
  return columns;
}

/** Runs `INSERT_JOBS` for a batch; one answer per call, in order. */
async function insertJobs(
  db: DbClient,
  calls: InsertCall[],
): Promise<{ job: JobRow | null; tenantUnlimited: boolean }[]> {
  const values = insertParameters(calls);
  const direct = poolOf(db);
  const rows =
    direct === null
      ? await db.$queryRawUnsafe<InsertedRow[]>(INSERT_JOBS, ...values)
      : await poolRows<InsertedRow>(direct, INSERT_JOBS, values);
  if (rows.length !== calls.length) throw new Error(`job insert returned ${rows.length} rows for ${calls.length} jobs`);
  return rows.map((row) => {
    const { tenant_unlimited: tenantUnlimited, ...job } = direct === null ? row : (asPrismaRow(row) as InsertedRow);
    return { job: job.id === null ? null : (job as JobRow), tenantUnlimited };
  });
}

/**
 * The creates of a client outside a transaction, batched (group commit, `CallBatcher`): the jobs
 * of concurrent requests go out in one statement, one commit. A request waits at most for the
 * batch ahead of it; alone, it goes out at once. Two creates with the same tenant and idempotency
 * key never share a batch.
 */
const batchers = new WeakMap<object, CallBatcher<InsertCall, { job: JobRow | null; tenantUnlimited: boolean }>>();

function batcherOf(db: PrismaClient) {
  let batcher = batchers.get(db);
  if (batcher === undefined) {
    batcher = new CallBatcher((calls: InsertCall[]) => insertJobs(db, calls), {
      keyOf: ({ args, id }) =>
        args.idempotencyKey === null || args.idempotencyKey === undefined
          ? id
          : `${args.tenantId}\u0000${args.idempotencyKey}`,
      maxBatch: 200,
    });
    batchers.set(db, batcher);
  }
  return batcher;
}

/**
 * The job row and its `job.queued` event in one statement. With `onlyUnlimited`, nothing is
 * written when the tenant has a quota or a budget. `job.queued` is not a webhook event type, so it
 * never has an outbox row. Outside a transaction, the statement is shared with concurrent creates.
 */
async function insertJobAndEvent(
  db: DbClient,
  args: CreateJobInput,
  id: string,
  now: Date,
  onlyUnlimited: boolean,
): Promise<{ job: JobRow | null; tenantUnlimited: boolean }> {
  const call = { args, id, now, onlyUnlimited };
  if (poolOf(db) !== null) return batcherOf(db as PrismaClient).submit(call);
  const [answer] = await insertJobs(db, [call]);
  if (answer === undefined) throw new Error("job insert returned no row");
  return answer;
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
