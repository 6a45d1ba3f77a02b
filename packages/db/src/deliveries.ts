import { AppError, newId } from "@darkroom/domain";
import type { DbClient, PrismaClient } from "./client";
import { type Actor, appendEvent } from "./events";

export type DeliveryRecord = Awaited<ReturnType<PrismaClient["webhookDelivery"]["findUniqueOrThrow"]>>;

/**
 * Pending deliveries whose time has come, taken in turns so that no backlog hides the others: the
 * oldest due delivery of every tenant first, then every tenant's second, and so on; within a
 * tenant, its receivers (URLs) take turns the same way. A tenant with thousands of deliveries to a
 * dead receiver therefore never keeps another's first attempt out of a sweep.
 */
export async function findDueDeliveries(
  db: DbClient,
  limit = 100,
): Promise<{ id: string; nextAttemptAt: Date | null }[]> {
  return db.$queryRaw<{ id: string; nextAttemptAt: Date | null }[]>`
    WITH due AS (
      SELECT id, "tenantId", "nextAttemptAt",
             row_number() OVER (PARTITION BY "tenantId", url ORDER BY "nextAttemptAt", id) AS url_turn
      FROM "WebhookDelivery"
      WHERE status = 'pending' AND "nextAttemptAt" <= now()
    ), turns AS (
      SELECT id, "nextAttemptAt",
             row_number() OVER (PARTITION BY "tenantId" ORDER BY url_turn, "nextAttemptAt", id) AS tenant_turn
      FROM due
    )
    SELECT id, "nextAttemptAt" FROM turns ORDER BY tenant_turn, "nextAttemptAt", id LIMIT ${limit}`;
}

/** Who a delivery goes to, read before anything else so that a delivery over its caps costs little. */
export async function findDeliveryRoute(
  db: DbClient,
  id: string,
): Promise<{ id: string; tenantId: string; url: string; status: string } | null> {
  return db.webhookDelivery.findUnique({
    where: { id },
    select: { id: true, tenantId: true, url: true, status: true },
  });
}

/** The tenant's delivery `id`, or null when it has none by that id. */
export async function findDeliveryForTenant(db: DbClient, tenantId: string, id: string) {
  return db.webhookDelivery.findFirst({ where: { id, tenantId }, select: { id: true } });
}

/** A pending delivery with what sending it needs; null when it is no longer pending. */
export async function findDeliveryToSend(db: DbClient, id: string) {
  const delivery = await db.webhookDelivery.findUnique({
    where: { id },
    include: {
      event: { include: { snapshot: true } },
      job: {
        include: {
          tenant: {
            select: { webhookSecret: true, previousWebhookSecret: true, previousWebhookSecretValidUntil: true },
          },
        },
      },
    },
  });
  if (delivery === null || delivery.status !== "pending") return null;
  return delivery;
}

/** The body of an event's deliveries, fixed by its first attempt (null before that). */
export async function findEventBody(db: DbClient, eventId: string): Promise<string | null> {
  const row = await db.webhookEventBody.findUnique({ where: { eventId }, select: { body: true } });
  return row?.body ?? null;
}

/**
 * Fixes the body of an event's deliveries, once: when another attempt of the event (a redelivery
 * racing the first attempt) stored one first, that one wins and is returned, so that one
 * `webhook-id` never carries two bodies.
 */
export async function storeEventBody(db: DbClient, eventId: string, body: string): Promise<string> {
  await db.$executeRaw`
    INSERT INTO "WebhookEventBody" ("eventId", body) VALUES (${eventId}, ${body}) ON CONFLICT ("eventId") DO NOTHING`;
  const stored = await findEventBody(db, eventId);
  if (stored === null) throw new Error(`the webhook body of event ${eventId} was not stored`);
  return stored;
}

export interface DeliveryOutcome {
  id: string;
  ok: boolean;
  status: number | null;
  responseBody: string;
  durationMs: number;
  error: string | null;
  /** Delay before the next attempt, or null when there is none (success, 410, schedule exhausted). */
  retryInMs: number | null;
  /** 410 Gone: stop every pending delivery of this job to this URL. */
  gone: boolean;
}

/**
 * Records one attempt; schedules the next as a new pending row. Returns the new row's id and time.
 * The update is conditional on the row still being pending, so a duplicate send records nothing twice.
 */
export async function recordDeliveryAttempt(
  db: PrismaClient,
  outcome: DeliveryOutcome,
): Promise<{ recorded: boolean; next: { id: string; at: Date } | null }> {
  return db.$transaction(async (tx) => {
    const now = new Date();
    const nextAt = outcome.retryInMs === null ? null : new Date(now.getTime() + outcome.retryInMs);
    const updated = await tx.webhookDelivery.updateMany({
      where: { id: outcome.id, status: "pending" },
      data: {
        status: outcome.ok ? "succeeded" : "failed",
        responseStatus: outcome.status,
        responseBody: outcome.responseBody,
        error: outcome.error,
        durationMs: outcome.durationMs,
        sentAt: now,
        nextAttemptAt: nextAt,
      },
    });
    if (updated.count === 0) return { recorded: false, next: null };
    const row = await tx.webhookDelivery.findUniqueOrThrow({ where: { id: outcome.id } });
    if (outcome.gone) {
      await tx.webhookDelivery.updateMany({
        where: { jobId: row.jobId, url: row.url, status: "pending" },
        data: { status: "canceled", error: "the receiver answered 410 Gone", nextAttemptAt: null },
      });
      return { recorded: true, next: null };
    }
    if (outcome.ok || nextAt === null) return { recorded: true, next: null };
    const id = newId("whd");
    await tx.webhookDelivery.create({
      data: {
        id,
        eventId: row.eventId,
        jobId: row.jobId,
        tenantId: row.tenantId,
        url: row.url,
        attemptNumber: row.attemptNumber + 1,
        status: "pending",
        nextAttemptAt: nextAt,
      },
    });
    return { recorded: true, next: { id, at: nextAt } };
  });
}

export async function listDeliveries(db: DbClient, tenantId: string, jobId: string): Promise<DeliveryRecord[]> {
  return db.webhookDelivery.findMany({
    where: { tenantId, jobId },
    orderBy: [{ createdAt: "asc" }, { attemptNumber: "asc" }],
  });
}

/**
 * A new, manual attempt of the delivery's event, sent as soon as a worker picks it up. It sends the
 * event's one stored body (it refers to it by `eventId`; nothing is copied). While an earlier
 * redelivery of the same event to the same URL is still pending, that one is returned instead of
 * adding another, so repeated clicks cannot pile up attempts of one event.
 */
export async function redeliver(
  db: PrismaClient,
  tenantId: string | null,
  deliveryId: string,
  actor: Actor = "client",
): Promise<DeliveryRecord> {
  return db.$transaction(async (tx) => {
    const original = await tx.webhookDelivery.findFirst({
      where: { id: deliveryId, ...(tenantId === null ? {} : { tenantId }) },
    });
    if (original === null) throw new AppError("not_found", `No webhook delivery ${deliveryId}.`);
    // Serializes redeliveries of one event, so that two at once cannot both see none pending.
    await tx.$executeRaw`SELECT 1 FROM "JobEvent" WHERE id = ${original.eventId} FOR UPDATE`;
    const pending = await tx.webhookDelivery.findFirst({
      where: { eventId: original.eventId, url: original.url, manual: true, status: "pending" },
      orderBy: { attemptNumber: "asc" },
    });
    if (pending !== null) return pending;
    const latest = await tx.webhookDelivery.findFirst({
      where: { eventId: original.eventId, url: original.url },
      orderBy: { attemptNumber: "desc" },
    });
    const created = await tx.webhookDelivery.create({
      data: {
        id: newId("whd"),
        eventId: original.eventId,
        jobId: original.jobId,
        tenantId: original.tenantId,
        url: original.url,
        attemptNumber: (latest?.attemptNumber ?? original.attemptNumber) + 1,
        status: "pending",
        manual: true,
        nextAttemptAt: new Date(),
      },
    });
    await appendEvent(tx, {
      jobId: original.jobId,
      tenantId: original.tenantId,
      type: "job.webhook_redelivered",
      data: { delivery_id: created.id, event_id: original.eventId, actor },
    });
    return created;
  });
}

/** A delivery as the API shows it. */
export function presentDelivery(d: DeliveryRecord) {
  return {
    id: d.id,
    object: "webhook_delivery",
    event_id: d.eventId,
    job_id: d.jobId,
    url: d.url,
    attempt: d.attemptNumber,
    status: d.status,
    manual: d.manual,
    response_status: d.responseStatus,
    response_body: d.responseBody,
    error: d.error,
    duration_ms: d.durationMs,
    sent_at: d.sentAt?.toISOString() ?? null,
    next_attempt_at: d.status === "failed" || d.status === "pending" ? (d.nextAttemptAt?.toISOString() ?? null) : null,
    created_at: d.createdAt.toISOString(),
  };
}
