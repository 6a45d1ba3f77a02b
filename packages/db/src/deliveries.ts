import { AppError, newId } from "@darkroom/domain";
import type { DbClient, PrismaClient } from "./client";

export type DeliveryRecord = Awaited<ReturnType<PrismaClient["webhookDelivery"]["findUniqueOrThrow"]>>;

/** Pending deliveries whose time has come, oldest first. */
export async function findDueDeliveries(
  db: DbClient,
  limit = 100,
): Promise<{ id: string; nextAttemptAt: Date | null }[]> {
  return db.webhookDelivery.findMany({
    where: { status: "pending", nextAttemptAt: { lte: new Date() } },
    orderBy: { nextAttemptAt: "asc" },
    take: limit,
    select: { id: true, nextAttemptAt: true },
  });
}

/** A pending delivery with what sending it needs; null when it is no longer pending. */
export async function findDeliveryToSend(db: DbClient, id: string) {
  const delivery = await db.webhookDelivery.findUnique({
    where: { id },
    include: {
      event: true,
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
  const row = await db.webhookDelivery.findFirst({
    where: { eventId, requestBody: { not: null } },
    orderBy: { attemptNumber: "asc" },
    select: { requestBody: true },
  });
  return row?.requestBody ?? null;
}

export interface DeliveryOutcome {
  id: string;
  requestBody: string;
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
        requestBody: outcome.requestBody,
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
        requestBody: outcome.requestBody,
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

/** A new, manual attempt of the delivery's event, sent as soon as a worker picks it up. */
export async function redeliver(db: PrismaClient, tenantId: string, deliveryId: string): Promise<DeliveryRecord> {
  return db.$transaction(async (tx) => {
    const original = await tx.webhookDelivery.findFirst({ where: { id: deliveryId, tenantId } });
    if (original === null) throw new AppError("not_found", `No webhook delivery ${deliveryId}.`);
    const latest = await tx.webhookDelivery.findFirst({
      where: { eventId: original.eventId, url: original.url },
      orderBy: { attemptNumber: "desc" },
    });
    const body = await findEventBody(tx, original.eventId);
    return tx.webhookDelivery.create({
      data: {
        id: newId("whd"),
        eventId: original.eventId,
        jobId: original.jobId,
        tenantId,
        url: original.url,
        attemptNumber: (latest?.attemptNumber ?? original.attemptNumber) + 1,
        status: "pending",
        manual: true,
        requestBody: body,
        nextAttemptAt: new Date(),
      },
    });
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
