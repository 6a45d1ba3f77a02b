import { DEFAULT_WEBHOOK_EVENTS, type JobCreate, type JobListQuery, newId } from "@darkroom/domain";
import type { DbClient, Prisma, PrismaClient } from "./client";
import { appendEvent } from "./events";

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
}

/** Writes the job and its first event in one transaction: the durable row exists before any enqueue. */
export async function createJob(db: PrismaClient, args: CreateJobInput): Promise<JobRecord> {
  const now = args.now ?? new Date();
  const { input } = args;
  const id = newId("job", now.getTime());
  return db.$transaction(async (tx) => {
    await args.guard?.(tx);
    const job = await tx.job.create({
      data: {
        id,
        tenantId: args.tenantId,
        model: input.model,
        fallbackModel: input.fallback_model,
        prompt: input.prompt,
        n: input.n,
        size: input.size,
        quality: input.quality,
        maxAttempts: input.max_attempts,
        deadlineSeconds: input.deadline_seconds,
        deadlineAt: new Date(now.getTime() + input.deadline_seconds * 1000),
        priority: input.priority,
        webhookUrl: input.webhook_url,
        webhookEvents: input.webhook_url === null ? [] : (input.webhook_events ?? DEFAULT_WEBHOOK_EVENTS),
        metadata: input.metadata as Prisma.InputJsonObject,
        idempotencyKey: args.idempotencyKey ?? null,
        requestHash: args.requestHash ?? null,
        createdAt: now,
        updatedAt: now,
      },
      include: JOB_INCLUDE,
    });
    await appendEvent(tx, { jobId: id, tenantId: args.tenantId, type: "job.queued", data: { status: "queued" } });
    return job;
  });
}

/** The job if it belongs to the tenant; another tenant's job is indistinguishable from a missing one. */
export async function findJobForTenant(db: DbClient, tenantId: string, id: string): Promise<JobRecord | null> {
  return db.job.findFirst({ where: { id, tenantId }, include: JOB_INCLUDE });
}

export async function findJobById(db: DbClient, id: string): Promise<JobRecord | null> {
  return db.job.findUnique({ where: { id }, include: JOB_INCLUDE });
}

export async function findJobByIdempotencyKey(db: DbClient, tenantId: string, key: string): Promise<JobRecord | null> {
  return db.job.findUnique({
    where: { tenantId_idempotencyKey: { tenantId, idempotencyKey: key } },
    include: JOB_INCLUDE,
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
