import type { PrismaClient } from "./client";
import { insertEventsCte, planEvents } from "./events";
import { Prisma } from "./generated/prisma/client";

/** The message of a job that failed `queue_timeout`, the same wherever it is decided. */
export const QUEUE_TIMEOUT_MESSAGE =
  "The job did not start within its queue_timeout_seconds; it never reached the upstream and cost nothing.";

/*
 * A job's run "has not started" while `attempt = "attemptBase"`: the claim increments `attempt`, and a
 * user retry sets `attemptBase` to the attempts so far. So a job waiting for an automatic retry, or
 * given back by a stopping worker, has started and is never failed here (its deadline still holds).
 * Times are the database clock's, as the claim's lease.
 */

/**
 * Fails the job with `queue_timeout` when it is queued, its run has not started and its start-by
 * (`queueExpiresAt`) has passed: one statement, with its `job.failed` event and, when subscribed,
 * the webhook's outbox row. False when the job is not such a job (started, terminal, not due).
 */
export async function failQueueTimeout(db: PrismaClient, jobId: string): Promise<boolean> {
  const error = { code: "queue_timeout", message: QUEUE_TIMEOUT_MESSAGE, retryable: false } as const;
  return failQueued(db, jobId, error, Prisma.sql`attempt = "attemptBase" AND "queueExpiresAt" < now()`);
}

/**
 * Fails a queued job on `condition` with `error`: one statement, with its event and outbox row.
 * For this package's own failures of jobs that never started (the start-by here, the deadline in
 * maintenance.ts).
 */
export async function failQueued(
  db: PrismaClient,
  jobId: string,
  error: { code: string; message: string; retryable: false },
  condition: Prisma.Sql,
): Promise<boolean> {
  const events = planEvents([{ type: "job.failed", data: { error } }]);
  const rows = await db.$queryRaw<{ id: string }[]>`
    WITH u AS (
      UPDATE "Job" SET status = 'failed'::"JobStatus", "progressStage" = 'failed', "finishedAt" = now(), "errorCode" = ${error.code},
        "errorMessage" = ${error.message}, "errorRetryable" = false, "nextAttemptAt" = NULL,
        "leaseOwner" = NULL, "leaseExpiresAt" = NULL, "updatedAt" = now()
      WHERE id = ${jobId} AND status = 'queued'::"JobStatus" AND ${condition}
      RETURNING id, "tenantId", "webhookUrl", "webhookEvents"),
    ${insertEventsCte("u", events)}
    SELECT id FROM u`;
  return rows.length === 1;
}

/**
 * Fails every queued job whose start-by passed before any worker took it (all slots busy, workers
 * down): up to `limit` per call, each in its own statement. Returns the jobs failed, with the
 * `attemptBase` of their run (which names their work in the intakes).
 */
export async function failQueueTimeouts(db: PrismaClient, limit = 200): Promise<{ id: string; attemptBase: number }[]> {
  const due = await db.$queryRaw<{ id: string; attemptBase: number }[]>`
    SELECT id, "attemptBase" FROM "Job"
    WHERE status = 'queued'::"JobStatus" AND "queueExpiresAt" < now() AND attempt = "attemptBase"
    ORDER BY "queueExpiresAt" LIMIT ${limit}::int`;
  const failed: { id: string; attemptBase: number }[] = [];
  for (const job of due) if (await failQueueTimeout(db, job.id)) failed.push(job);
  return failed;
}
