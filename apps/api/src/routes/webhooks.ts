import {
  findDeliveryForTenant,
  findJobForTenant,
  findTenant,
  listDeliveries,
  presentDelivery,
  redeliver,
  signingSecrets,
} from "@darkroom/db";
import { AppError, isId, newId } from "@darkroom/domain";
import { createGuardedDispatcher, sendWebhook } from "@darkroom/webhooks";
import { Router } from "express";
import { z } from "zod";
import type { ApiDeps } from "../deps";
import { tenantOf } from "../http/context";
import { parseOrThrow } from "../http/validate";
import { assertWebhookUrlAllowed } from "../http/webhook-url";

/** The body of `POST /v1/webhooks/test` (also the OpenAPI document's). */
export const WebhookTestSchema = z
  .strictObject({
    url: z.string().min(1).max(2048).meta({
      description:
        "Where to send the test event: an absolute http(s) URL under the rules of a job's `webhook_url` (public addresses, unless ALLOW_PRIVATE_WEBHOOK_URLS is `loopback`, as under `npm start` in development, or `true`)",
      example: "http://127.0.0.1:3901/hook",
    }),
  })
  .meta({ id: "WebhookTestRequest", description: "The receiver to send one signed `webhook.test` event to" });

/** The `type` of the event `POST /v1/webhooks/test` sends. */
export const WEBHOOK_TEST_EVENT = "webhook.test";

export function webhooksRouter(deps: ApiDeps): Router {
  const router = Router();
  // The address rules of real deliveries (ALLOW_PRIVATE_WEBHOOK_URLS), checked again at connect time.
  const dispatcher = createGuardedDispatcher({
    allowPrivate: deps.config.env.ALLOW_PRIVATE_WEBHOOK_URLS,
    timeoutMs: deps.config.env.WEBHOOK_TIMEOUT_MS,
  });

  /**
   * Sends one signed `webhook.test` event to `url` now, from this process, signed and sent exactly
   * as the worker sends real deliveries (same headers, secrets and timeout), and answers with what
   * the receiver did. Nothing is stored and nothing is retried: it is for checking a receiver.
   */
  router.post("/v1/webhooks/test", async (req, res) => {
    const tenantId = tenantOf(res);
    if (!req.is("application/json")) {
      throw new AppError("unsupported_media_type", 'Send `{"url": …}` with `Content-Type: application/json`.');
    }
    const { url } = parseOrThrow(WebhookTestSchema, req.body, "body");
    await assertWebhookUrlAllowed("url", url, deps.config.env.ALLOW_PRIVATE_WEBHOOK_URLS);
    const tenant = await findTenant(deps.db, tenantId);
    if (tenant === null) throw new AppError("unauthorized", "The API key's tenant no longer exists.");
    const eventId = newId("evt");
    const body = JSON.stringify({
      type: WEBHOOK_TEST_EVENT,
      timestamp: new Date().toISOString(),
      data: { tenant_id: tenantId, message: "A test event from POST /v1/webhooks/test." },
    });
    const result = await sendWebhook({
      url,
      secret: signingSecrets(tenant),
      eventId,
      body,
      timeoutMs: deps.config.env.WEBHOOK_TIMEOUT_MS,
      dispatcher,
    });
    res.json({
      object: "webhook_test",
      event_id: eventId,
      url,
      ok: result.ok,
      status: result.status,
      error: result.error,
      duration_ms: result.durationMs,
      response_body: result.responseBody,
    });
  });

  router.get("/v1/jobs/:id/webhook-deliveries", async (req, res) => {
    const tenantId = tenantOf(res);
    const job = isId("job", req.params.id) ? await findJobForTenant(deps.db, tenantId, req.params.id) : null;
    if (job === null) throw new AppError("not_found", `No job ${req.params.id}.`);
    const deliveries = await listDeliveries(deps.db, tenantId, job.id);
    res.json({ object: "list", data: deliveries.map(presentDelivery) });
  });

  router.post("/v1/webhook-deliveries/:id/redeliver", async (req, res) => {
    const tenantId = tenantOf(res);
    if (!isId("whd", req.params.id) || (await findDeliveryForTenant(deps.db, tenantId, req.params.id)) === null) {
      throw new AppError("not_found", `No webhook delivery ${req.params.id}.`);
    }
    // Only redeliveries that would send something count against the tenant's limit.
    await deps.redeliveries.consume(tenantId, res);
    // A new attempt row for the same event (same webhook-id, same body), or the one still pending
    // from an earlier redelivery of it; a worker sends it shortly.
    const delivery = await redeliver(deps.db, tenantId, req.params.id);
    res.status(202).json(presentDelivery(delivery));
  });

  return router;
}
