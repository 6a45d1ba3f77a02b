import { newId, WEBHOOK_EVENT_TYPES } from "@darkroom/domain";
import type { DbClient } from "./client";
import { Prisma } from "./generated/prisma/client";

export const JOB_EVENT_TYPES = [
  "job.queued",
  "job.started",
  "job.progress",
  "job.attempt_failed",
  "job.fallback",
  "job.succeeded",
  "job.failed",
  "job.canceled",
  "job.webhook_redelivered",
] as const;

/** Who asked for an action on a job: the tenant's API key (`client`) or an operator (`admin`). */
export type Actor = "client" | "admin";
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

/** The seq of the job's latest event (0 when it has none): where a listener that wants only what comes next starts. */
export async function lastEventSeq(db: DbClient, jobId: string): Promise<bigint> {
  const row = await db.jobEvent.findFirst({ where: { jobId }, orderBy: { seq: "desc" }, select: { seq: true } });
  return row?.seq ?? 0n;
}

/** An event a one-statement transition writes, with its outbox row's id when its type is a webhook type. */
export interface PlannedEvent {
  id: string;
  type: JobEventType;
  data: Prisma.InputJsonObject;
  deliveryId: string | null;
}

/** Ids for events written inside a transition's statement (see {@link insertEventsCte}). */
export function planEvents(events: { type: JobEventType; data: Prisma.InputJsonObject }[]): PlannedEvent[] {
  return events.map((event) => ({
    ...event,
    id: newId("evt"),
    deliveryId: (WEBHOOK_EVENT_TYPES as readonly string[]).includes(event.type) ? newId("whd") : null,
  }));
}

/**
 * Two CTEs (`ev`, `wh`) to chain after a CTE `source` that updated one job row and returned its id,
 * "tenantId", "webhookUrl" and "webhookEvents": the events, in order (so in `seq` order), and for
 * each event the job's webhook subscribes to, its first delivery (the outbox row). Nothing is
 * written when `source` matched no row (the attempt was fenced out), and it all commits with the
 * change it describes, in the same statement.
 */
export function insertEventsCte(source: string, events: PlannedEvent[]): Prisma.Sql {
  const src = Prisma.raw(`"${source}"`);
  const ids = events.map((e) => e.id);
  const types = events.map((e) => e.type);
  const data = events.map((e) => JSON.stringify(e.data));
  const deliveries = events.map((e) => e.deliveryId);
  return Prisma.sql`
  ev AS (
    INSERT INTO "JobEvent" (id, "jobId", "tenantId", type, data)
    SELECT x.id, s.id, s."tenantId", x.type, x.data
    FROM ${src} s, unnest(${ids}::text[], ${types}::text[], ${data}::jsonb[]) WITH ORDINALITY AS x(id, type, data, ord)
    ORDER BY x.ord
    RETURNING id),
  wh AS (
    INSERT INTO "WebhookDelivery" (id, "eventId", "jobId", "tenantId", url, "attemptNumber", status, "nextAttemptAt")
    SELECT x.whd, x.id, s.id, s."tenantId", s."webhookUrl", 1, 'pending', now()
    FROM ${src} s, unnest(${ids}::text[], ${types}::text[], ${deliveries}::text[]) AS x(id, type, whd)
    WHERE x.whd IS NOT NULL AND s."webhookUrl" IS NOT NULL AND x.type = ANY(s."webhookEvents")
    RETURNING id)`;
}

/**
 * Two CTEs (`ev`, `wh`) to chain after a CTE `source` that changed many job rows, one event of
 * `type` each: `source` returns per row the job's id, "tenantId", "webhookUrl" and "webhookEvents",
 * and the event's planned id (`evt`), outbox row id (`whd`) and `data`. The batched form of
 * {@link insertEventsCte}: a row `source` did not return (fenced out) gets nothing.
 */
export function insertRowEventsCte(source: string, type: JobEventType): Prisma.Sql {
  const src = Prisma.raw(`"${source}"`);
  return Prisma.sql`
  ev AS (
    INSERT INTO "JobEvent" (id, "jobId", "tenantId", type, data)
    SELECT s.evt, s.id, s."tenantId", ${type}, s.data FROM ${src} s
    RETURNING id),
  wh AS (
    INSERT INTO "WebhookDelivery" (id, "eventId", "jobId", "tenantId", url, "attemptNumber", status, "nextAttemptAt")
    SELECT s.whd, s.evt, s.id, s."tenantId", s."webhookUrl", 1, 'pending', now() FROM ${src} s
    WHERE s.whd IS NOT NULL AND s."webhookUrl" IS NOT NULL AND ${type} = ANY(s."webhookEvents")
    RETURNING id)`;
}
