import { AppError, isTerminal } from "@darkroom/domain";
import type { DbClient, PrismaClient } from "./client";
import { type Actor, appendEvent } from "./events";
import type { Job } from "./generated/prisma/client";
import { JOB_INCLUDE, type JobRecord } from "./jobs";

/**
 * Cancels a queued or running job for its tenant (any tenant's with `tenantId` null: an
 * operator). The running attempt (if any) is marked canceled here; its worker's fenced writes then
 * change nothing. The event says who did it. Throws not_found / conflict.
 */
export async function cancelJob(
  db: PrismaClient,
  tenantId: string | null,
  jobId: string,
  actor: Actor = "client",
): Promise<{ job: JobRecord; wasRunning: boolean }> {
  return db.$transaction(async (tx) => {
    const current = await tx.job.findFirst({
      where: { id: jobId, ...(tenantId === null ? {} : { tenantId }) },
      select: { status: true, tenantId: true },
    });
    if (current === null) throw new AppError("not_found", `No job ${jobId}.`);
    const now = new Date();
    const updated = await tx.job.updateMany({
      where: { id: jobId, status: { in: ["queued", "running"] } },
      data: {
        status: "canceled",
        progressStage: "canceled",
        finishedAt: now,
        leaseOwner: null,
        leaseExpiresAt: null,
        nextAttemptAt: null,
      },
    });
    if (updated.count === 0) {
      throw new AppError(
        "conflict",
        `Job ${jobId} is already ${current.status}; only queued or running jobs can be canceled.`,
      );
    }
    await tx.jobAttempt.updateMany({
      where: { jobId, status: "running" },
      data: {
        status: "canceled",
        finishedAt: now,
        errorClass: "canceled",
        errorMessage: actor === "admin" ? "Canceled by an operator." : "Canceled by the client.",
      },
    });
    await appendEvent(tx, {
      jobId,
      tenantId: current.tenantId,
      type: "job.canceled",
      data: { previous_status: current.status, actor },
    });
    const job = await tx.job.findUniqueOrThrow({ where: { id: jobId }, include: JOB_INCLUDE });
    return { job, wasRunning: current.status === "running" };
  });
}

/**
 * Re-runs a failed or canceled job (any tenant's with `tenantId` null): back to queued with a
 * fresh attempt budget and deadline; the earlier attempts stay listed; the event says who did it.
 * Throws not_found / conflict. `guard` runs in the transaction once the job is known to be
 * retryable; throwing refuses the retry (the job stays as it was).
 */
export async function retryJob(
  db: PrismaClient,
  tenantId: string | null,
  jobId: string,
  guard?: (tx: DbClient, job: Job) => Promise<void>,
  actor: Actor = "client",
): Promise<JobRecord> {
  return db.$transaction(async (tx) => {
    const current = await tx.job.findFirst({ where: { id: jobId, ...(tenantId === null ? {} : { tenantId }) } });
    if (current === null) throw new AppError("not_found", `No job ${jobId}.`);
    if (!isTerminal(current.status) || current.status === "succeeded") {
      throw new AppError("conflict", `Job ${jobId} is ${current.status}; only failed or canceled jobs can be retried.`);
    }
    await guard?.(tx, current);
    const now = new Date();
    const updated = await tx.job.updateMany({
      where: { id: jobId, status: current.status, attempt: current.attempt },
      data: {
        status: "queued",
        attemptBase: current.attempt,
        fallbackUsed: false,
        progressPercent: 0,
        progressStage: "queued",
        errorCode: null,
        errorMessage: null,
        errorRetryable: null,
        resultModel: null,
        usage: undefined,
        finishedAt: null,
        nextAttemptAt: null,
        deadlineAt: new Date(now.getTime() + current.deadlineSeconds * 1000),
        // The retry is a new run: it gets its own start-by, as its own deadline.
        queueExpiresAt:
          current.queueTimeoutSeconds === null ? null : new Date(now.getTime() + current.queueTimeoutSeconds * 1000),
      },
    });
    if (updated.count === 0) throw new AppError("conflict", `Job ${jobId} changed meanwhile; try again.`);
    await appendEvent(tx, {
      jobId,
      tenantId: current.tenantId,
      type: "job.queued",
      data: { status: "queued", retry: true, actor },
    });
    return tx.job.findUniqueOrThrow({ where: { id: jobId }, include: JOB_INCLUDE });
  });
}
