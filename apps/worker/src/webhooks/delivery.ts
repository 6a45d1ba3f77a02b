import {
  findDeliveryRoute,
  findDeliveryToSend,
  findEventBody,
  findJobById,
  jobAsOf,
  type PrismaClient,
  presentJob,
  recordDeliveryAttempt,
  signingSecrets,
  storeEventBody,
} from "@darkroom/db";
import type { ImageUrlSigner } from "@darkroom/domain";
import type { Logger } from "@darkroom/logger";
import { parsePayload } from "@darkroom/queue";
import { nextRetryDelayMs, sendWebhook } from "@darkroom/webhooks";
import { DelayedError, type Job, type Queue } from "bullmq";
import type { Dispatcher } from "undici";
import type { DeliveryRoute, WebhookSlots } from "./slots";

export interface WebhookDeps {
  db: PrismaClient;
  logger: Logger;
  dispatcher: Dispatcher;
  schedule: number[];
  timeoutMs: number;
  /** Signs image URLs in bodies; null when this process has no secret (URLs then need the API key). */
  signer: ImageUrlSigner | null;
  publicBaseUrl: string;
  queue: Queue;
  /** The in-flight caps per receiver and per tenant, shared by every worker process. */
  slots: WebhookSlots;
  /**
   * How long a delivery over a cap waits at most before trying again by itself (normally a freed
   * slot wakes it first); at least a slot's lease, so that the slot of a dead process is back by then.
   */
  parkMs: number;
}

/** Enqueues one delivery under its own id (enqueueing a pending row twice is a no-op). */
export async function enqueueDelivery(queue: Queue, deliveryId: string, at: Date = new Date()): Promise<void> {
  await queue.add("deliver", { deliveryId }, { jobId: deliveryId, delay: Math.max(0, at.getTime() - Date.now()) });
}

/**
 * Sends one delivery attempt and records it, within the in-flight caps of its receiver and tenant.
 * A delivery over a cap is parked, not failed: its row stays pending with its attempt number and
 * schedule, and its job waits (delayed) until a freed slot wakes it. The body is stored once per
 * event (at its first attempt) and sent verbatim by every retry and redelivery.
 */
export function createWebhookProcessor(deps: WebhookDeps) {
  return async (bullJob: Job, token?: string): Promise<void> => {
    const { deliveryId } = parsePayload("webhooks", bullJob.data);
    const route = await findDeliveryRoute(deps.db, deliveryId);
    if (route === null) return;
    if (route.status !== "pending") return deps.slots.forget(route, deliveryId);
    const slot = await deps.slots.acquire(route, deliveryId);
    if (slot === null) return park(deps, bullJob, token, route);
    let sent: Awaited<ReturnType<typeof sendOne>>;
    try {
      sent = await sendOne(deps, deliveryId);
    } finally {
      await slot.release().catch((error) => deps.logger.warn({ err: error }, "webhook slot not released (it expires)"));
    }
    if (sent === null) return;
    const { delivery, result } = sent;
    // A manual redelivery is one attempt; automatic ones follow the schedule (410 stops them).
    const retryInMs =
      result.ok || result.gone || delivery.manual
        ? null
        : nextRetryDelayMs(deps.schedule, delivery.attemptNumber, result.retryAfterMs);
    const { recorded, next } = await recordDeliveryAttempt(deps.db, {
      id: delivery.id,
      ok: result.ok,
      status: result.status,
      responseBody: result.responseBody,
      durationMs: result.durationMs,
      error: result.error,
      retryInMs,
      gone: result.gone,
    });
    deps.logger.info(
      {
        job_id: delivery.jobId,
        delivery_id: delivery.id,
        attempt: delivery.attemptNumber,
        url_host: new URL(delivery.url).host,
        ok: result.ok,
        status: result.status,
        error: result.error,
        next_at: next?.at,
        recorded,
      },
      "webhook delivery attempt",
    );
    if (next !== null) await enqueueDelivery(deps.queue, next.id, next.at);
  };
}

/** The attempt itself, made while holding a slot; null when the delivery stopped being pending. */
async function sendOne(deps: WebhookDeps, deliveryId: string) {
  const delivery = await findDeliveryToSend(deps.db, deliveryId);
  if (delivery === null) return null;
  const body =
    (await findEventBody(deps.db, delivery.eventId)) ??
    (await storeEventBody(deps.db, delivery.eventId, await buildBody(deps, delivery)));
  const result = await sendWebhook({
    url: delivery.url,
    // During a rotation's grace the previous secret signs too, so receivers can switch at their pace.
    secret: signingSecrets(delivery.job.tenant),
    eventId: delivery.eventId,
    body,
    timeoutMs: deps.timeoutMs,
    dispatcher: deps.dispatcher,
  });
  return { delivery, result };
}

/**
 * Parks a delivery over a cap: its job goes back to the queue, delayed by `parkMs` (plus jitter, so
 * that parked deliveries do not all come back at once), and onto the waiting list of the cap that
 * refused it, whence a freed slot wakes it early. Moving the job to delayed is BullMQ's way to
 * postpone a job without counting an attempt (DelayedError).
 */
async function park(deps: WebhookDeps, bullJob: Job, token: string | undefined, route: DeliveryRoute): Promise<never> {
  if (token === undefined || bullJob.id === undefined) throw new Error("a webhook job without its lock token");
  await bullJob.moveToDelayed(Date.now() + deps.parkMs + Math.floor(Math.random() * (deps.parkMs / 2)), token);
  // A slot freed between the refusal and now found nothing to wake: take it now.
  if (!(await deps.slots.park(route, bullJob.id))) await bullJob.promote().catch(() => undefined);
  deps.logger.debug({ delivery_id: bullJob.id }, "webhook delivery over its in-flight caps: parked");
  throw new DelayedError();
}

/** Wakes a parked delivery: its delayed job becomes due now. False when it is not parked (any more). */
export async function wakeDelivery(queue: Queue, deliveryId: string): Promise<boolean> {
  const job = await queue.getJob(deliveryId);
  if (job === undefined) return false;
  try {
    await job.promote();
    return true;
  } catch {
    return false;
  }
}

/**
 * `{type, timestamp, data: <job object>}`, the job as of the event (its snapshot, written with the
 * event's first delivery), however late the first attempt goes out: a `job.progress` webhook sent
 * after the job succeeded still shows that progress, as the event stream does at that seq. Its
 * image URLs are signed for the whole retry window plus IMAGE_URL_TTL_SECONDS (webhookUrl), since
 * every retry sends this body verbatim.
 */
async function buildBody(
  deps: WebhookDeps,
  delivery: { jobId: string; event: { type: string; createdAt: Date; snapshot: { job: unknown } | null } },
): Promise<string> {
  const job = await findJobById(deps.db, delivery.jobId);
  if (job === null) throw new Error(`job ${delivery.jobId} of a pending delivery is gone`);
  const imageUrl = (id: string, index: number) =>
    deps.signer?.webhookUrl(id, index) ?? `${deps.publicBaseUrl}/v1/jobs/${id}/images/${index}`;
  return JSON.stringify({
    type: delivery.event.type,
    timestamp: delivery.event.createdAt.toISOString(),
    data: presentJob(jobAsOf(job, delivery.event.snapshot?.job), imageUrl),
  });
}
