import {
  findDeliveryToSend,
  findEventBody,
  findJobById,
  type PrismaClient,
  presentJob,
  recordDeliveryAttempt,
  signingSecrets,
} from "@darkroom/db";
import type { ImageUrlSigner } from "@darkroom/domain";
import type { Logger } from "@darkroom/logger";
import { parsePayload } from "@darkroom/queue";
import { nextRetryDelayMs, sendWebhook } from "@darkroom/webhooks";
import type { Job, Queue } from "bullmq";
import type { Dispatcher } from "undici";

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
}

/** Enqueues one delivery under its own id (enqueueing a pending row twice is a no-op). */
export async function enqueueDelivery(queue: Queue, deliveryId: string, at: Date = new Date()): Promise<void> {
  await queue.add("deliver", { deliveryId }, { jobId: deliveryId, delay: Math.max(0, at.getTime() - Date.now()) });
}

/**
 * Sends one delivery attempt and records it. The body is built once per event (at its first
 * attempt) and reused verbatim by every retry and redelivery.
 */
export function createWebhookProcessor(deps: WebhookDeps) {
  return async (bullJob: Job): Promise<void> => {
    const { deliveryId } = parsePayload("webhooks", bullJob.data);
    const delivery = await findDeliveryToSend(deps.db, deliveryId);
    if (delivery === null) return;
    const log = deps.logger.child({
      job_id: delivery.jobId,
      delivery_id: delivery.id,
      attempt: delivery.attemptNumber,
    });
    const body =
      delivery.requestBody ?? (await findEventBody(deps.db, delivery.eventId)) ?? (await buildBody(deps, delivery));
    const result = await sendWebhook({
      url: delivery.url,
      // During a rotation's grace the previous secret signs too, so receivers can switch at their pace.
      secret: signingSecrets(delivery.job.tenant),
      eventId: delivery.eventId,
      body,
      timeoutMs: deps.timeoutMs,
      dispatcher: deps.dispatcher,
    });
    // A manual redelivery is one attempt; automatic ones follow the schedule (410 stops them).
    const retryInMs =
      result.ok || result.gone || delivery.manual
        ? null
        : nextRetryDelayMs(deps.schedule, delivery.attemptNumber, result.retryAfterMs);
    const { recorded, next } = await recordDeliveryAttempt(deps.db, {
      id: delivery.id,
      requestBody: body,
      ok: result.ok,
      status: result.status,
      responseBody: result.responseBody,
      durationMs: result.durationMs,
      error: result.error,
      retryInMs,
      gone: result.gone,
    });
    log.info(
      {
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

/** `{type, timestamp, data: <job object>}`, the job as it stands at the event's first attempt. */
async function buildBody(
  deps: WebhookDeps,
  delivery: { jobId: string; event: { type: string; createdAt: Date } },
): Promise<string> {
  const job = await findJobById(deps.db, delivery.jobId);
  if (job === null) throw new Error(`job ${delivery.jobId} of a pending delivery is gone`);
  const imageUrl = (id: string, index: number) =>
    deps.signer?.url(id, index) ?? `${deps.publicBaseUrl}/v1/jobs/${id}/images/${index}`;
  return JSON.stringify({
    type: delivery.event.type,
    timestamp: delivery.event.createdAt.toISOString(),
    data: presentJob(job, imageUrl),
  });
}
