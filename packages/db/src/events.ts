import { newId, WEBHOOK_EVENT_TYPES } from "@darkroom/domain";
import type { DbClient, Prisma } from "./client";

export const JOB_EVENT_TYPES = [
  "job.queued",
  "job.started",
  "job.progress",
  "job.attempt_failed",
  "job.fallback",
  "job.succeeded",
  "job.failed",
  "job.canceled",
] as const;
export type JobEventType = (typeof JOB_EVENT_TYPES)[number];

export interface AppendEventInput {
  jobId: string;
  tenantId: string;
  type: JobEventType;
  data: Prisma.InputJsonObject;
}

/**
 * Appends one row to the job's event log, and, when the job's webhook subscribes to this type, the
 * event's first delivery (the outbox row). Call it inside the transaction of the change it describes:
 * every caller updates the job row first, so one job's events commit in `seq` order.
 */
export async function appendEvent(db: DbClient, input: AppendEventInput): Promise<{ id: string; seq: bigint }> {
  const row = await db.jobEvent.create({
    data: { id: newId("evt"), jobId: input.jobId, tenantId: input.tenantId, type: input.type, data: input.data },
    select: { id: true, seq: true },
  });
  if ((WEBHOOK_EVENT_TYPES as readonly string[]).includes(input.type)) {
    await db.$executeRaw`
      INSERT INTO "WebhookDelivery" (id, "eventId", "jobId", "tenantId", url, "attemptNumber", status, "nextAttemptAt")
      SELECT ${newId("whd")}, ${row.id}, j.id, j."tenantId", j."webhookUrl", 1, 'pending', now()
      FROM "Job" j
      WHERE j.id = ${input.jobId} AND j."webhookUrl" IS NOT NULL AND ${input.type} = ANY(j."webhookEvents")`;
  }
  return row;
}

export interface JobEventRecord {
  seq: bigint;
  id: string;
  jobId: string;
  type: string;
  data: unknown;
  createdAt: Date;
}

/** Events of a job after `afterSeq`, oldest first. */
export async function listEvents(
  db: DbClient,
  jobId: string,
  afterSeq: bigint,
  limit = 500,
): Promise<JobEventRecord[]> {
  return db.jobEvent.findMany({
    where: { jobId, seq: { gt: afterSeq } },
    orderBy: { seq: "asc" },
    take: limit,
    select: { seq: true, id: true, jobId: true, type: true, data: true, createdAt: true },
  });
}
