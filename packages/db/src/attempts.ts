import type { JobErrorCode, ProgressStage } from "@darkroom/domain";
import type { DbClient, Prisma, PrismaClient } from "./client";
import { appendEvent } from "./events";
import { JOB_INCLUDE, type JobRecord } from "./jobs";

/**
 * Every write an attempt makes is fenced on (id, attempt, status = running): a worker that stalled
 * and lost the job to a newer attempt changes nothing when it wakes up.
 */
function fence(jobId: string, attempt: number): Prisma.JobWhereInput {
  return { id: jobId, attempt, status: "running" };
}

export interface ClaimInput {
  jobId: string;
  leaseOwner: string;
  leaseMs: number;
  /** Picks the model of the new attempt from the job as it stands after the claim. */
  chooseModel: (job: JobRecord) => string;
}

export interface Claim {
  job: JobRecord;
  attempt: number;
  model: string;
}

/**
 * Moves a queued job to running as attempt n+1 and records the attempt; a running job whose lease
 * expired (its worker died) is taken over the same way. Null when the job is not claimable.
 */
export async function claimJob(db: PrismaClient, input: ClaimInput): Promise<Claim | null> {
  return db.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<{ attempt: number }[]>`
      UPDATE "Job" SET status = 'running'::"JobStatus", attempt = attempt + 1,
        "startedAt" = COALESCE("startedAt", now()), "progressStage" = 'starting',
        "leaseOwner" = ${input.leaseOwner}, "leaseExpiresAt" = now() + make_interval(secs => ${input.leaseMs / 1000}),
        "nextAttemptAt" = NULL, "updatedAt" = now()
      WHERE id = ${input.jobId} AND (status = 'queued'::"JobStatus"
        OR (status = 'running'::"JobStatus" AND "leaseExpiresAt" < now()))
      RETURNING attempt`;
    const attempt = rows[0]?.attempt;
    if (attempt === undefined) return null;
    // An attempt still marked running belonged to a worker that died: it ends as interrupted.
    await tx.jobAttempt.updateMany({
      where: { jobId: input.jobId, status: "running" },
      data: {
        status: "interrupted",
        finishedAt: new Date(),
        errorClass: "interrupted",
        errorMessage: "The worker stopped during this attempt.",
      },
    });
    const job = await tx.job.findUniqueOrThrow({ where: { id: input.jobId }, include: JOB_INCLUDE });
    const model = input.chooseModel(job);
    const created = await tx.jobAttempt.create({
      data: { id: `att_${input.jobId.slice(4)}_${attempt}`, jobId: job.id, number: attempt, model, status: "running" },
    });
    await appendEvent(tx, { jobId: job.id, tenantId: job.tenantId, type: "job.started", data: { attempt, model } });
    return { job: { ...job, attempts: [...job.attempts, created] }, attempt, model };
  });
}

export interface ProgressInput {
  jobId: string;
  tenantId: string;
  attempt: number;
  percent: number;
  stage: ProgressStage;
}

/** Writes progress and its event; false when the attempt no longer owns the job. */
export async function writeProgress(db: PrismaClient, input: ProgressInput): Promise<boolean> {
  return db.$transaction(async (tx) => {
    const updated = await tx.job.updateMany({
      where: fence(input.jobId, input.attempt),
      data: { progressPercent: input.percent, progressStage: input.stage },
    });
    if (updated.count === 0) return false;
    await tx.jobAttempt.updateMany({
      where: { jobId: input.jobId, number: input.attempt },
      data: { lastProgress: input.percent },
    });
    await appendEvent(tx, {
      jobId: input.jobId,
      tenantId: input.tenantId,
      type: "job.progress",
      data: { attempt: input.attempt, percent: input.percent, stage: input.stage },
    });
    return true;
  });
}

/** Extends the attempt's lease; false when it no longer owns the job. */
export async function renewLease(db: DbClient, jobId: string, attempt: number, leaseMs: number): Promise<boolean> {
  const updated = await db.job.updateMany({
    where: fence(jobId, attempt),
    data: { leaseExpiresAt: new Date(Date.now() + leaseMs) },
  });
  return updated.count === 1;
}

export interface AttemptFacts {
  upstreamRequestId?: string | null;
  timeToFirstByteMs?: number | null;
  httpStatus?: number | null;
}

export interface StoredImageInput {
  index: number;
  storageKey: string;
  contentType: string;
  bytes: number;
  sha256: string;
  width: number | null;
  height: number | null;
  sourceUrl: string | null;
}

export interface CompleteInput {
  jobId: string;
  tenantId: string;
  attempt: number;
  model: string;
  images: StoredImageInput[];
  usage: unknown;
  /** Estimated cost of the images (MODEL_PRICES of `model` times their number), in micro-dollars. */
  costMicroUsd: number;
  facts: AttemptFacts;
}

/** Marks the job succeeded with its stored images; false when the attempt no longer owns the job. */
export async function completeJob(db: PrismaClient, input: CompleteInput): Promise<boolean> {
  return db.$transaction(async (tx) => {
    const now = new Date();
    const updated = await tx.job.updateMany({
      where: fence(input.jobId, input.attempt),
      data: {
        status: "succeeded",
        progressPercent: 100,
        progressStage: "done",
        resultModel: input.model,
        usage: (input.usage ?? undefined) as Prisma.InputJsonValue | undefined,
        // Written with the result, so usage figures and budgets can never see one without the other.
        imagesStored: input.images.length,
        costUsd: (input.costMicroUsd / 1_000_000).toFixed(6),
        finishedAt: now,
        leaseOwner: null,
        leaseExpiresAt: null,
        errorCode: null,
        errorMessage: null,
        errorRetryable: null,
      },
    });
    if (updated.count === 0) return false;
    await tx.image.deleteMany({ where: { jobId: input.jobId } });
    await tx.image.createMany({
      data: input.images.map((image) => ({
        id: `img_${input.jobId.slice(4)}_${image.index}`,
        jobId: input.jobId,
        ...image,
      })),
    });
    await tx.jobAttempt.updateMany({
      where: { jobId: input.jobId, number: input.attempt },
      data: { status: "succeeded", finishedAt: now, lastProgress: 100, ...attemptFacts(input.facts) },
    });
    await appendEvent(tx, {
      jobId: input.jobId,
      tenantId: input.tenantId,
      type: "job.succeeded",
      data: { attempt: input.attempt, model: input.model, images: input.images.length },
    });
    return true;
  });
}

export interface AttemptErrorInput {
  code: JobErrorCode;
  message: string;
  retryable: boolean;
  errorClass: string | null;
}

export interface FailAttemptInput {
  jobId: string;
  tenantId: string;
  attempt: number;
  error: AttemptErrorInput;
  facts: AttemptFacts;
  /** When set, the job goes back to queued for another attempt at this time; otherwise it fails. */
  retryAt: Date | null;
  /** The next attempts use the fallback model. */
  switchToFallback?: boolean;
}

/** Records a failed attempt and either schedules the next one or fails the job; false when fenced out. */
export async function failAttempt(db: PrismaClient, input: FailAttemptInput): Promise<boolean> {
  return db.$transaction(async (tx) => {
    const now = new Date();
    const final = input.retryAt === null;
    const updated = await tx.job.updateMany({
      where: fence(input.jobId, input.attempt),
      data: final
        ? {
            status: "failed",
            finishedAt: now,
            errorCode: input.error.code,
            errorMessage: input.error.message,
            errorRetryable: input.error.retryable,
            leaseOwner: null,
            leaseExpiresAt: null,
          }
        : {
            status: "queued",
            nextAttemptAt: input.retryAt,
            progressStage: "queued",
            leaseOwner: null,
            leaseExpiresAt: null,
            ...(input.switchToFallback === true ? { fallbackUsed: true } : {}),
          },
    });
    if (updated.count === 0) return false;
    await tx.jobAttempt.updateMany({
      where: { jobId: input.jobId, number: input.attempt },
      data: {
        status: "failed",
        finishedAt: now,
        errorCode: input.error.code,
        errorClass: input.error.errorClass,
        errorMessage: input.error.message,
        retryable: input.error.retryable,
        ...attemptFacts(input.facts),
      },
    });
    const error = { code: input.error.code, message: input.error.message, retryable: input.error.retryable };
    await appendEvent(tx, {
      jobId: input.jobId,
      tenantId: input.tenantId,
      type: "job.attempt_failed",
      data: { attempt: input.attempt, error, next_attempt_at: input.retryAt?.toISOString() ?? null },
    });
    if (final) {
      await appendEvent(tx, { jobId: input.jobId, tenantId: input.tenantId, type: "job.failed", data: { error } });
    } else if (input.switchToFallback === true) {
      await appendEvent(tx, {
        jobId: input.jobId,
        tenantId: input.tenantId,
        type: "job.fallback",
        data: { after_attempt: input.attempt, reason: input.error.code },
      });
    }
    return true;
  });
}

function attemptFacts(facts: AttemptFacts) {
  return {
    ...(facts.upstreamRequestId === undefined ? {} : { upstreamRequestId: facts.upstreamRequestId }),
    ...(facts.timeToFirstByteMs === undefined ? {} : { timeToFirstByteMs: facts.timeToFirstByteMs }),
    ...(facts.httpStatus === undefined ? {} : { httpStatus: facts.httpStatus }),
  };
}
