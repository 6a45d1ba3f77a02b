// The OpenAPI 3.1 document, generated from the zod schemas the API validates requests with and the
// response schemas beside them (@asteasolutions/zod-to-openapi).
import { OpenAPIRegistry, OpenApiGeneratorV31 } from "@asteasolutions/zod-to-openapi";
import { WEBHOOK_EVENT_TYPES } from "@darkroom/domain";
import { z } from "zod";
import { StreamEventSchema, WebhookTestBodySchema, webhookBody } from "./event-schemas";
import { registerAdminPaths, registerServicePaths } from "./paths-admin";
import { registerV1Paths } from "./paths-v1";
import { ProblemSchema } from "./resource-schemas";

const WEBHOOK_HEADERS = z.object({
  "webhook-id": z
    .string()
    .meta({ description: "The event's id, the same on every retry: de-duplicate on it", example: "evt_…" }),
  "webhook-timestamp": z.string().meta({ description: "Unix seconds of this send", example: "1796115600" }),
  "webhook-signature": z.string().meta({
    description:
      "`v1,` + base64(HMAC-SHA256(secret bytes, `{webhook-id}.{webhook-timestamp}.{raw body}`)), where the secret is `whsec_` + base64 of the key bytes; during a secret rotation, one signature per secret, space-separated",
    example: "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
  }),
  "user-agent": z.string().meta({ description: "Darkroom's webhook sender", example: "Darkroom-Webhooks/1" }),
});

function registerWebhooks(registry: OpenAPIRegistry): void {
  for (const type of WEBHOOK_EVENT_TYPES) {
    registry.registerWebhook({
      method: "post",
      path: type,
      operationId: `webhook_${type.replace(".", "_")}`,
      tags: ["Webhooks"],
      summary: `${type} webhook`,
      description: `Sent to the job's webhook_url when \`webhook_events\` has \`${type}\`: a Standard Webhooks request whose \`data\` is the job as of its event (the same object the event stream shows at that seq, even when the webhook is sent later; every retry sends the same body). Verify the signature on the raw body (the SDK's verifyWebhook, or any Standard Webhooks library) before parsing it. A 2xx is success; anything else, a timeout (10 s) or a redirect is retried on WEBHOOK_RETRY_SCHEDULE (default 5s, 5m, 30m, 2h, 5h, 10h, 10h), honouring Retry-After; 410 stops retries.`,
      request: {
        headers: WEBHOOK_HEADERS,
        body: { required: true, content: { "application/json": { schema: webhookBody(type) } } },
      },
      responses: {
        200: { description: "Any 2xx: delivered" },
        410: { description: "Gone: Darkroom stops retrying this delivery" },
      },
    });
  }
  registry.registerWebhook({
    method: "post",
    path: "webhook.test",
    operationId: "webhook_webhook_test",
    tags: ["Webhooks"],
    summary: "webhook.test webhook",
    description:
      "Sent once, only when asked for with `POST /v1/webhooks/test`, to check a receiver: signed like every webhook, never retried, tied to no job.",
    request: {
      headers: WEBHOOK_HEADERS,
      body: { required: true, content: { "application/json": { schema: WebhookTestBodySchema } } },
    },
    responses: { 200: { description: "Any 2xx: the receiver works" } },
  });
}

/** Every route's registry entries; the document is generated from them. */
function buildRegistry(): OpenAPIRegistry {
  const registry = new OpenAPIRegistry();
  registry.registerComponent("securitySchemes", "apiKey", {
    type: "http",
    scheme: "bearer",
    description: "A tenant's API key (`dr_…`), as `Authorization: Bearer <key>`",
  });
  registry.registerComponent("securitySchemes", "adminToken", {
    type: "http",
    scheme: "bearer",
    description: "The operator's ADMIN_TOKEN, as `Authorization: Bearer <token>`",
  });
  registerV1Paths(registry);
  registerAdminPaths(registry);
  registerServicePaths(registry);
  registerWebhooks(registry);
  return registry;
}

const DESCRIPTION = `Asynchronous image generation: submit a prompt, follow the job (poll, \`Prefer: wait\`, server-sent events or signed webhooks) to stored images or a clear error.

Every error is an RFC 9457 problem (\`application/problem+json\`) with a \`code\` and a \`request_id\`; each operation lists the statuses and codes it can answer. Any route may also answer 500 \`internal\` (a bug: the request id finds it in the logs).`;

let cached: { url: string; doc: Record<string, unknown> } | null = null;

/** The OpenAPI 3.1 document of the whole API (served at /openapi.json, rendered at /docs). */
export function buildOpenApi(serverUrl: string): Record<string, unknown> {
  if (cached?.url === serverUrl) return cached.doc;
  // Named by no route's zod schema (an SSE body is text; problems are referenced by $ref with their
  // codes narrowed), so added by themselves; `.meta({ id })` makes each a component.
  const definitions = [
    ...buildRegistry().definitions,
    { type: "schema" as const, schema: StreamEventSchema },
    { type: "schema" as const, schema: ProblemSchema },
  ];
  const doc = new OpenApiGeneratorV31(definitions).generateDocument({
    openapi: "3.1.0",
    info: { title: "Darkroom API", version: "1.0.0", description: DESCRIPTION },
    servers: [{ url: serverUrl }],
    security: [{ apiKey: [] }],
    tags: [
      { name: "Jobs", description: "Create and follow generation jobs" },
      { name: "Webhooks", description: "Webhook deliveries, and the webhooks Darkroom sends" },
      { name: "Usage", description: "What the tenant used" },
      { name: "Admin", description: "Operators (Bearer ADMIN_TOKEN)" },
      { name: "Service", description: "Health, metrics, this reference" },
    ],
  }) as unknown as Record<string, unknown>;
  cached = { url: serverUrl, doc };
  return doc;
}
