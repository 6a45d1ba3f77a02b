import { JOB_EVENT_TYPES } from "@darkroom/db";
import {
  API_ERROR_CODES,
  JOB_ERROR_CODES,
  JobCreateSchema,
  JobListQuerySchema,
  PROGRESS_STAGES,
  USAGE_GROUPS,
  UsageQuerySchema,
} from "@darkroom/domain";
import { z } from "zod";
import { TenantSettingsSchema } from "./tenant-settings";

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ "application/json": { schema } });
const problem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: ref("Problem") } },
});
const jobId = {
  name: "id",
  in: "path",
  required: true,
  schema: { type: "string", pattern: "^job_[0-9A-HJKMNP-TV-Z]{26}$" },
};
const errors = {
  "400": problem("Invalid input; `errors` names each bad field"),
  "401": problem("Missing or invalid API key"),
  "404": problem("No such job for this tenant"),
  "429": problem(
    '`rate_limited`: the API key made more than its tenant\'s `rate_limit_per_minute` requests this minute (`limit.name` is `rate_limit_per_minute`; counted over every API process, in fixed one-minute windows; every `/v1` answer to an authenticated request carries `RateLimit-Policy: "minute";q=<limit>;w=60` and `RateLimit: "minute";r=<remaining>;t=<seconds to reset>`), or too many failed authentications from this client address (`AUTH_FAILURES_PER_MINUTE`), when every request from it is refused, a correct key included; retry after `Retry-After`',
  ),
  "503": problem("Postgres unreachable; retry after `Retry-After`"),
};
/** Where a request holds one of the key's stream slots (an event stream, or `Prefer: wait` above 0). */
const streamErrors = {
  ...errors,
  "429": problem(
    "`rate_limited`: the key already holds `MAX_STREAMS_PER_KEY` live event streams and `Prefer: wait` requests (`limit.name` is `max_streams_per_key`), the API key made more than its tenant's `rate_limit_per_minute` requests this minute (`rate_limit_per_minute`; see the `RateLimit` and `RateLimit-Policy` headers), or too many failed authentications from this client address (`auth_failures_per_minute`); retry after `Retry-After`",
  ),
};
const USAGE_LIMIT_REFUSALS =
  "; `quota_exceeded`: the job's `n` images would take the tenant past its `images_per_day` (images stored since 00:00 UTC plus the `n` of its queued and running jobs), or `budget_exceeded`: the job's worst-case estimated cost (`n` times the higher `MODEL_PRICES` price of `model` and `fallback_model`) would take it past its `monthly_budget_usd` (estimated cost of this UTC month's succeeded jobs plus the worst case of its queued and running jobs). Both name the limit in `limit` (`name`, `value`, `used`, `reserved`, `requested`, `resets_at`: next 00:00 UTC, or the first instant of next UTC month) and answer `Retry-After` in seconds until that reset; nothing is created or changed";
/** `errors` of an operation that takes from the tenant's quota and budget (a create, a user retry). */
const limitedErrors = (base: Record<string, object>) => ({
  ...base,
  "429": problem(`${(base["429"] as { description: string }).description}${USAGE_LIMIT_REFUSALS}`),
});
const adminAuthErrors = {
  "401": problem("Wrong admin token"),
  "429": problem(
    "`rate_limited`: too many wrong admin tokens or API keys from this client address (`AUTH_FAILURES_PER_MINUTE`); retry after `Retry-After`",
  ),
};
const adminErrors = {
  "400": problem("Invalid input; `errors` names each bad field"),
  ...adminAuthErrors,
  "404": problem("No such tenant"),
};
const tenantId = { name: "id", in: "path", required: true, schema: { type: "string" } };
const timestamps = ["created_at", "started_at", "finished_at", "updated_at", "next_attempt_at", "deadline_at"];
const JobError = {
  type: "object",
  required: ["code", "message", "retryable"],
  properties: {
    code: {
      type: "string",
      enum: JOB_ERROR_CODES,
      description:
        "Among them: `upstream_stalled` (the stream stayed open but its progress did not move for UPSTREAM_PROGRESS_STALL_MS; retried or sent to the fallback), `upstream_busy` (the upstream's image service said it was busy and drew nothing; retried after a longer wait, UPSTREAM_BUSY_RETRY_DELAY_MS)",
    },
    message: {
      type: "string",
      description: "Darkroom's own words, never the upstream's text (which operators read in the admin API)",
    },
    retryable: { type: "boolean" },
  },
};

/** The OpenAPI 3.1 document of the whole public API (served at /openapi.json, rendered at /docs). */
export function buildOpenApi(serverUrl: string): Record<string, unknown> {
  const listQuery = z.toJSONSchema(JobListQuerySchema, { io: "input" }) as { properties: Record<string, object> };
  const usageQuery = z.toJSONSchema(UsageQuerySchema, { io: "input" }) as { properties: Record<string, object> };
  const usageParameters = Object.entries(usageQuery.properties).map(([name, schema]) => ({
    name,
    in: "query",
    schema,
    description: (schema as { description?: string }).description,
  }));
  return {
    openapi: "3.1.0",
    info: {
      title: "Darkroom API",
      version: "1.0.0",
      description:
        "Asynchronous image generation: submit a prompt, follow the job (poll, SSE, or signed webhooks) to stored images or a clear error.",
    },
    servers: [{ url: serverUrl }],
    security: [{ apiKey: [] }],
    components: {
      securitySchemes: {
        apiKey: { type: "http", scheme: "bearer", description: "A tenant's API key (`dr_…`)" },
        adminToken: { type: "http", scheme: "bearer", description: "ADMIN_TOKEN" },
      },
      schemas: {
        JobCreate: z.toJSONSchema(JobCreateSchema, { io: "input" }),
        Job: {
          type: "object",
          properties: {
            id: { type: "string" },
            object: { const: "job" },
            status: { type: "string", enum: ["queued", "running", "succeeded", "failed", "canceled"] },
            model: { type: "string" },
            fallback_model: { type: ["string", "null"] },
            prompt: { type: "string" },
            n: { type: "integer" },
            size: { type: "string" },
            quality: { type: "string" },
            max_attempts: { type: "integer" },
            queue_timeout_seconds: {
              type: ["integer", "null"],
              description: "As given at creation (10-3600); null: the job may wait in the queue until its deadline",
            },
            queue_expires_at: {
              type: ["string", "null"],
              format: "date-time",
              description:
                "Start-by of the current run: creation (or the last user retry) plus `queue_timeout_seconds`. A job whose run has not started by then fails `queue_timeout` without reaching the upstream, at no cost. null without `queue_timeout_seconds`",
            },
            hedge_after_seconds: {
              type: ["integer", "null"],
              description:
                "As given at creation (1-600): when the primary shows no progress for this long, the fallback starts alongside it and the first valid result wins. null: no hedge",
            },
            priority: {
              type: "string",
              enum: ["high", "normal", "low"],
              description: "Order among the tenant's own queued jobs (then age); tenants share the workers by weight",
            },
            progress: {
              type: "object",
              properties: {
                percent: { type: "integer", minimum: 0, maximum: 100 },
                stage: { type: "string", enum: PROGRESS_STAGES },
                queue_position: {
                  type: ["integer", "null"],
                  minimum: 1,
                  description:
                    "Queued jobs: 1 = the next of the tenant's jobs to start. null when not queued, while a retry waits for its time, or when Redis cannot be read",
                },
                eta_seconds: {
                  type: ["integer", "null"],
                  minimum: 0,
                  description:
                    "An estimate of the seconds until the job ends, from the median duration of its model's recent successes (last 24 h) and its queue position. null for terminal jobs and when there is no history",
                },
              },
            },
            attempts: { type: "array", items: ref("Attempt") },
            attempts_used: {
              type: "integer",
              description:
                "Attempts of the current run (since creation or the last retry) that used up one of `max_attempts` (`counted`); never more than `max_attempts`",
            },
            fallback_used: { type: "boolean" },
            result: {
              oneOf: [
                { type: "null" },
                {
                  type: "object",
                  properties: {
                    model: { type: "string" },
                    images: { type: "array", items: ref("Image") },
                    usage: {},
                    cost_usd: {
                      type: ["number", "null"],
                      description:
                        "Estimated cost: the `MODEL_PRICES` price of `model` times the images stored (null for jobs finished before costs were recorded)",
                    },
                  },
                },
              ],
            },
            error: { oneOf: [{ type: "null" }, ref("JobError")] },
            metadata: { type: "object" },
            webhook_url: { type: ["string", "null"] },
            webhook_events: { type: "array", items: { type: "string" } },
            ...Object.fromEntries(timestamps.map((t) => [t, { type: ["string", "null"], format: "date-time" }])),
          },
        },
        JobError,
        TenantSettings: z.toJSONSchema(TenantSettingsSchema, { io: "input" }),
        Tenant: {
          type: "object",
          properties: {
            id: { type: "string" },
            name: { type: "string" },
            created_at: { type: "string", format: "date-time" },
            max_concurrency: { type: ["integer", "null"], description: "null = no cap" },
            weight: { type: "integer", minimum: 1 },
            rate_limit_per_minute: { type: "integer" },
            images_per_day: { type: ["integer", "null"], description: "null = no quota" },
            monthly_budget_usd: { type: ["number", "null"], description: "null = no budget" },
            previous_webhook_secret_valid_until: {
              type: ["string", "null"],
              format: "date-time",
              description: "Until when webhooks also carry a signature with the secret before the last rotation",
            },
            limits: {
              ...ref("UsageLimits"),
              description:
                "On the answers about one tenant (GET and PATCH), not in the list: what is used of each limit",
            },
          },
        },
        UsageLimit: {
          type: ["object", "null"],
          description: "null when the tenant has no such limit",
          properties: {
            limit: { type: "number" },
            used: {
              type: "number",
              description: "Taken this period by succeeded jobs (images stored, or estimated USD)",
            },
            reserved: {
              type: "number",
              description: "Held by queued and running jobs (their `n`, or their worst-case estimated cost)",
            },
            remaining: { type: "number", description: "`limit - used - reserved`, at least 0" },
            resets_at: {
              type: "string",
              format: "date-time",
              description:
                "Next 00:00 UTC (images_per_day), or the first instant of next UTC month (monthly_budget_usd)",
            },
          },
        },
        UsageLimits: {
          type: "object",
          properties: { images_per_day: ref("UsageLimit"), monthly_budget_usd: ref("UsageLimit") },
        },
        UsageFigures: {
          type: "object",
          properties: {
            jobs_succeeded: { type: "integer" },
            jobs_failed: { type: "integer" },
            images: { type: "integer", description: "Images stored" },
            tokens: {
              type: "integer",
              description: "`total_tokens` the upstream reported for the calls that stored them",
            },
            cost_usd: {
              type: "number",
              description: "Estimated: the model's `MODEL_PRICES` price times the images it stored",
            },
          },
        },
        Usage: {
          type: "object",
          description:
            "Jobs that finished (succeeded or failed) in [from, to), by `finished_at`; days and models without any are left out",
          properties: {
            object: { const: "usage" },
            from: { type: "string", format: "date-time" },
            to: { type: "string", format: "date-time" },
            group_by: { type: "string", enum: USAGE_GROUPS },
            data: {
              type: "array",
              items: {
                allOf: [
                  {
                    type: "object",
                    properties: {
                      day: { type: "string", format: "date", description: "With group_by=day: the UTC day" },
                      model: {
                        type: "string",
                        description:
                          "With group_by=model: the model that stored the images (a failed job: the model it asked for)",
                      },
                    },
                  },
                  ref("UsageFigures"),
                ],
              },
            },
            totals: ref("UsageFigures"),
            limits: ref("UsageLimits"),
          },
        },
        ApiKey: {
          type: "object",
          description: "Never the key itself",
          properties: {
            id: { type: "string" },
            tenant_id: { type: "string" },
            name: { type: "string" },
            prefix: { type: "string", description: "First 10 characters of the key" },
            created_at: { type: "string", format: "date-time" },
            last_used_at: { type: ["string", "null"], format: "date-time", description: "To the minute" },
            revoked_at: { type: ["string", "null"], format: "date-time" },
          },
        },
        Attempt: {
          type: "object",
          properties: {
            number: { type: "integer" },
            model: { type: "string" },
            status: { type: "string", enum: ["running", "succeeded", "failed", "canceled", "interrupted"] },
            error: { oneOf: [{ type: "null" }, ref("JobError")] },
            upstream_request_id: { type: ["string", "null"] },
            time_to_first_byte_ms: { type: ["integer", "null"] },
            last_progress: { type: ["integer", "null"] },
            last_stage: {
              type: ["string", "null"],
              description: "Stage the progress last showed when the attempt failed",
            },
            progress_stood_ms: {
              type: ["integer", "null"],
              description: "`upstream_stalled`: how long the progress had not moved when the stream was abandoned",
            },
            skipped: {
              type: ["string", "null"],
              enum: ["circuit_open", null],
              description:
                "`circuit_open`: the primary model's circuit breaker was open, so this attempt went straight to the fallback without calling the primary",
            },
            hedge: {
              type: "boolean",
              description:
                "Started alongside a running attempt of the same job (hedged fallback, `hedge_after_seconds`). Of the two, the one that lost the race ends `canceled`",
            },
            counted: {
              type: "boolean",
              description:
                "Whether this call used up one of its run's `max_attempts`: false for a 429 (the upstream queue waits instead) and for an `interrupted` call (a worker stopping, the quota guard's pause)",
            },
            started_at: { type: "string", format: "date-time" },
            finished_at: { type: ["string", "null"], format: "date-time" },
          },
        },
        Image: {
          type: "object",
          properties: {
            index: { type: "integer" },
            url: {
              type: "string",
              description:
                "Signed: works without a key until it expires (IMAGE_URL_TTL_SECONDS; in webhook bodies, through the whole retry window too)",
            },
            content_type: { type: "string" },
            bytes: { type: "integer" },
            sha256: { type: "string" },
            width: { type: ["integer", "null"] },
            height: { type: ["integer", "null"] },
          },
        },
        Event: {
          type: "object",
          description:
            "One entry of a job's event log. On an event stream, a live progress (`live: true`, sent before it is committed, SSE event without `id:`) has the same shape with `id` and `seq` null, `type` `job.progress`, `created_at` the time the worker had it, and `data` `{attempt, percent, stage}` like the durable event's.",
          properties: {
            id: { type: ["string", "null"], description: "null on a live progress" },
            seq: { type: ["integer", "null"], description: "null on a live progress" },
            live: { type: "boolean", description: "true on a live progress only (event streams); absent otherwise" },
            type: { type: "string", enum: JOB_EVENT_TYPES },
            job_id: { type: "string" },
            created_at: { type: "string", format: "date-time" },
            data: { type: "object" },
            job: { ...ref("Job"), description: "On terminal events only" },
          },
        },
        WebhookDelivery: {
          type: "object",
          properties: {
            id: { type: "string" },
            event_id: { type: "string" },
            url: { type: "string" },
            attempt: { type: "integer" },
            status: { type: "string", enum: ["pending", "succeeded", "failed", "canceled"] },
            manual: { type: "boolean" },
            response_status: { type: ["integer", "null"] },
            response_body: { type: ["string", "null"], description: "First 1 KiB" },
            error: { type: ["string", "null"] },
            duration_ms: { type: ["integer", "null"] },
            next_attempt_at: { type: ["string", "null"], format: "date-time" },
          },
        },
        Problem: {
          type: "object",
          required: ["type", "title", "status", "code", "request_id"],
          properties: {
            type: { type: "string" },
            title: { type: "string" },
            status: { type: "integer" },
            detail: { type: "string" },
            code: { type: "string", enum: API_ERROR_CODES },
            request_id: { type: "string" },
            errors: {
              type: "array",
              items: { type: "object", properties: { path: { type: "string" }, message: { type: "string" } } },
            },
            limit: {
              type: "object",
              description:
                "With `rate_limited`, `quota_exceeded` and `budget_exceeded`: the limit that was reached (`used`, `reserved`, `requested` and `resets_at` with the last two)",
              required: ["name", "value"],
              properties: {
                name: {
                  type: "string",
                  enum: [
                    "rate_limit_per_minute",
                    "max_streams_per_key",
                    "auth_failures_per_minute",
                    "webhook_redeliveries_per_minute",
                    "images_per_day",
                    "monthly_budget_usd",
                  ],
                },
                value: { type: "number" },
                used: { type: "number" },
                reserved: { type: "number" },
                requested: { type: "number" },
                resets_at: { type: "string", format: "date-time" },
              },
            },
          },
        },
      },
    },
    paths: {
      "/v1/jobs": {
        post: {
          summary: "Create a job",
          parameters: [
            { name: "Idempotency-Key", in: "header", schema: { type: "string", maxLength: 255 } },
            { name: "Prefer", in: "header", schema: { type: "string", example: "wait=30" } },
          ],
          requestBody: { required: true, content: json(ref("JobCreate")) },
          responses: {
            "200": { description: "Prefer: wait — the job finished in time", content: json(ref("Job")) },
            "202": { description: "Accepted (or an idempotent replay)", content: json(ref("Job")) },
            "415": problem("Body is not application/json"),
            "422": problem("Idempotency-Key reused with a different body"),
            ...limitedErrors(streamErrors),
            "400": problem(
              "Invalid input; `errors` names each bad field. Text must be storable as sent: a NUL or a lone UTF-16 surrogate (`\\udfff` without its partner) in `prompt`, `webhook_url` or any `metadata` key or value is refused with its path (`metadata.k`; a bad key is shown escaped). `metadata` nests at most 16 levels, its numbers must be finite (`1e400` is refused) and `__proto__` is refused as a key at any depth",
            ),
          },
        },
        get: {
          summary: "List jobs, newest first",
          parameters: Object.entries(listQuery.properties).map(([name, schema]) => ({
            name,
            in: "query",
            schema,
            description: (schema as { description?: string }).description,
          })),
          responses: {
            "200": {
              description: "A page",
              content: json({
                type: "object",
                properties: { data: { type: "array", items: ref("Job") }, next_cursor: { type: ["string", "null"] } },
              }),
            },
            ...errors,
          },
        },
      },
      "/v1/jobs/{id}": {
        get: {
          summary: "Get a job",
          parameters: [jobId, { name: "Prefer", in: "header", schema: { type: "string", example: "wait=30" } }],
          responses: {
            "200": { description: "The job (with Prefer: wait, the job finished in time)", content: json(ref("Job")) },
            "202": {
              description: "Prefer: wait — the time ran out before the job finished: the job as it is now",
              content: json(ref("Job")),
            },
            ...streamErrors,
          },
        },
      },
      "/v1/jobs/{id}/cancel": {
        post: {
          summary: "Cancel a queued or running job (aborts the in-flight upstream call)",
          parameters: [jobId],
          responses: {
            "200": { description: "Canceled", content: json(ref("Job")) },
            "409": problem("Already terminal"),
            ...errors,
          },
        },
      },
      "/v1/jobs/{id}/retry": {
        post: {
          summary: "Re-run a failed or canceled job",
          parameters: [jobId],
          responses: {
            "202": { description: "Queued again", content: json(ref("Job")) },
            "409": problem("Not failed or canceled"),
            ...limitedErrors(errors),
          },
        },
      },
      "/v1/jobs/{id}/events": {
        get: {
          summary: "The job's event log: SSE with Accept: text/event-stream, else JSON pages",
          description:
            "With `Accept: text/event-stream`: the events after `Last-Event-ID` (or `after`), then live ones as they are committed, ending after the terminal event. Each API process reads a job's events from Postgres once for all its streams and `Prefer: wait` requests of that job. Unless `live=false`, a progress change is also sent the moment the worker has it, before it is committed: a `job.progress` event without an `id:` line whose data has `id` and `seq` null and `live: true` (see Event). Live progress never goes back within an attempt. When the durable `job.progress` event is read later and the client was already shown that progress (or a later one) live, only its `id: <seq>` is sent, with no data: per the SSE standard this moves the client's Last-Event-ID without dispatching an event, so a resume misses nothing. A client that did not get the live progress (pub/sub lost it, or it joined later) gets the durable event in full. With `live=false` every event comes in full with its seq, and nothing else.",
          parameters: [
            jobId,
            { name: "after", in: "query", schema: { type: "integer" } },
            { name: "Last-Event-ID", in: "header", schema: { type: "string" } },
            {
              name: "live",
              in: "query",
              schema: { type: "boolean", default: true },
              description: "SSE only: false leaves out live progress (every event in full with its seq, nothing else)",
            },
          ],
          responses: {
            "200": {
              description: "Events",
              content: {
                "application/json": {
                  schema: { type: "object", properties: { data: { type: "array", items: ref("Event") } } },
                },
                "text/event-stream": { schema: { type: "string" } },
              },
            },
            ...streamErrors,
          },
        },
      },
      "/v1/jobs/{id}/images/{index}": {
        get: {
          summary: "A stored image (API key, or the signed URL's expires + signature)",
          security: [{ apiKey: [] }, {}],
          parameters: [
            jobId,
            { name: "index", in: "path", required: true, schema: { type: "integer", minimum: 0, maximum: 3 } },
            {
              name: "expires",
              in: "query",
              description:
                "Signed URL: unix seconds, no leading zeros; at most the longest lifetime Darkroom signs ahead (the webhook retry window plus twice IMAGE_URL_TTL_SECONDS)",
              schema: { type: "integer" },
            },
            {
              name: "signature",
              in: "query",
              description:
                "Signed URL: 43 base64url characters. The query must be exactly `expires=…&signature=…`, as given in the job",
              schema: { type: "string", pattern: "^[A-Za-z0-9_-]{43}$" },
            },
          ],
          responses: {
            "200": { description: "The bytes", content: { "image/png": {}, "image/jpeg": {}, "image/webp": {} } },
            "403": problem(
              "A signed URL not in its canonical form, with a wrong signature, expired, or expiring further ahead than any URL Darkroom signs; `detail` says which",
            ),
            ...errors,
          },
        },
      },
      "/v1/jobs/{id}/webhook-deliveries": {
        get: {
          summary: "Every webhook delivery attempt of the job",
          parameters: [jobId],
          responses: {
            "200": {
              description: "Deliveries",
              content: json({ type: "object", properties: { data: { type: "array", items: ref("WebhookDelivery") } } }),
            },
            ...errors,
          },
        },
      },
      "/v1/webhook-deliveries/{id}/redeliver": {
        post: {
          summary: "Send that event again (same webhook-id and body)",
          description:
            "Adds a manual attempt of the delivery's event, sent as soon as a worker is free (within the receiver's and the tenant's in-flight caps). While an earlier redelivery of the same event is still pending, answers that one instead of adding another. Each tenant may redeliver `WEBHOOK_REDELIVERIES_PER_MINUTE` times a minute over every API process; the answer adds a `\"redeliveries\"` policy to `RateLimit-Policy` and `RateLimit`.",
          parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
          responses: {
            "202": {
              description: "The new attempt, or the pending one of an earlier redelivery of the event",
              content: json(ref("WebhookDelivery")),
            },
            ...errors,
            "404": problem("No such webhook delivery for this tenant"),
            "429": problem(
              '`rate_limited`: the tenant asked for more than `WEBHOOK_REDELIVERIES_PER_MINUTE` redeliveries this minute (`limit.name` is `webhook_redeliveries_per_minute`; see the `"redeliveries"` item of `RateLimit`), or the key is over its `rate_limit_per_minute` (`rate_limit_per_minute`), or too many failed authentications from this address (`auth_failures_per_minute`); retry after `Retry-After`',
            ),
          },
        },
      },
      "/v1/webhooks/test": {
        post: {
          summary: "Send a signed `webhook.test` event to a URL now",
          description:
            'Sends one event `{type: "webhook.test", timestamp, data: {tenant_id, message}}` to `url`, signed and sent as real deliveries are (Standard Webhooks headers `webhook-id`, `webhook-timestamp`, `webhook-signature` with the tenant\'s secret, `WEBHOOK_TIMEOUT_MS`, no redirects followed), and answers what the receiver did. Nothing is stored or retried. The URL must pass the rules of `webhook_url` (public addresses, unless `ALLOW_PRIVATE_WEBHOOK_URLS` is `loopback`, as under `npm start` in development, or `true`).',
          requestBody: {
            required: true,
            content: json({
              type: "object",
              required: ["url"],
              additionalProperties: false,
              properties: {
                url: { type: "string", format: "uri", maxLength: 2048, example: "http://127.0.0.1:3901/hook" },
              },
            }),
          },
          responses: {
            "200": {
              description: "The attempt was made; `ok` says whether the receiver answered 2xx",
              content: json({
                type: "object",
                required: ["object", "event_id", "url", "ok", "status", "error", "duration_ms", "response_body"],
                properties: {
                  object: { type: "string", enum: ["webhook_test"] },
                  event_id: { type: "string", description: "The `webhook-id` header sent" },
                  url: { type: "string" },
                  ok: { type: "boolean" },
                  status: { type: ["integer", "null"], description: "The receiver's HTTP status; null when none came" },
                  error: {
                    type: ["string", "null"],
                    description:
                      "Why it failed (`receiver answered HTTP 500`, `connection refused`, `timed out after 10000 ms`); null on success",
                  },
                  duration_ms: { type: "integer" },
                  response_body: { type: "string", description: "The first KiB of the receiver's answer" },
                },
              }),
            },
            "400": problem(
              "`validation_failed`: `url` is missing, not an absolute http(s) URL, carries credentials, or points at an address webhooks may not reach (the message names `ALLOW_PRIVATE_WEBHOOK_URLS`); `errors` names the field",
            ),
            "401": errors["401"],
            "415": problem("Body is not application/json"),
            "429": errors["429"],
            "503": errors["503"],
          },
        },
      },
      "/v1/usage": {
        get: {
          summary: "The tenant's usage (jobs, images, tokens, estimated cost) by UTC day or model, with its limits",
          parameters: usageParameters,
          responses: {
            "200": { description: "The usage", content: json(ref("Usage")) },
            "400": problem(
              "`validation_failed`: `from` or `to` is not an ISO 8601 date-time or date, `from` is after `to`, the range is over 366 days, `group_by` is not day or model, or an unknown parameter; `errors` names each",
            ),
            "401": errors["401"],
            "429": errors["429"],
            "503": errors["503"],
          },
        },
      },
      "/admin/api/keys": {
        post: {
          summary: "Create a tenant with an API key and webhook secret (settings optional; TENANT_DEFAULT_* otherwise)",
          security: [{ adminToken: [] }],
          requestBody: {
            required: true,
            content: json({
              allOf: [
                { type: "object", required: ["name"], properties: { name: { type: "string" } } },
                ref("TenantSettings"),
              ],
            }),
          },
          responses: {
            "201": {
              description: "Created (the key is shown once)",
              content: json({
                type: "object",
                properties: {
                  tenant_id: { type: "string" },
                  api_key: { type: "string" },
                  webhook_secret: { type: "string" },
                },
              }),
            },
            ...adminErrors,
          },
        },
      },
      "/admin/api/tenants": {
        get: {
          summary: "Every tenant with its settings, oldest first",
          security: [{ adminToken: [] }],
          responses: {
            "200": {
              description: "The tenants",
              content: json({ type: "object", properties: { data: { type: "array", items: ref("Tenant") } } }),
            },
            ...adminAuthErrors,
          },
        },
      },
      "/admin/api/tenants/{id}": {
        get: {
          summary: "One tenant with its settings and `limits` (what is used of its quota and budget)",
          security: [{ adminToken: [] }],
          parameters: [tenantId],
          responses: { "200": { description: "The tenant", content: json(ref("Tenant")) }, ...adminErrors },
        },
        patch: {
          summary:
            "Change a tenant's name or any of its settings (null lifts a cap, quota or budget); answers the tenant with `limits`",
          security: [{ adminToken: [] }],
          parameters: [tenantId],
          requestBody: {
            required: true,
            content: json({
              allOf: [{ type: "object", properties: { name: { type: "string" } } }, ref("TenantSettings")],
            }),
          },
          responses: { "200": { description: "The tenant", content: json(ref("Tenant")) }, ...adminErrors },
        },
      },
      "/admin/api/tenants/{id}/usage": {
        get: {
          summary: "A tenant's usage, as GET /v1/usage answers it",
          security: [{ adminToken: [] }],
          parameters: [tenantId, ...usageParameters],
          responses: { "200": { description: "The usage", content: json(ref("Usage")) }, ...adminErrors },
        },
      },
      "/admin/api/tenants/{id}/keys": {
        get: {
          summary: "A tenant's API keys (never the keys themselves)",
          security: [{ adminToken: [] }],
          parameters: [tenantId],
          responses: {
            "200": {
              description: "The keys, oldest first",
              content: json({ type: "object", properties: { data: { type: "array", items: ref("ApiKey") } } }),
            },
            ...adminErrors,
          },
        },
        post: {
          summary: "Add an API key to a tenant",
          security: [{ adminToken: [] }],
          parameters: [tenantId],
          requestBody: {
            required: true,
            content: json({ type: "object", required: ["name"], properties: { name: { type: "string" } } }),
          },
          responses: {
            "201": {
              description: "The key (shown once)",
              content: json({ type: "object", properties: { id: { type: "string" }, api_key: { type: "string" } } }),
            },
            ...adminErrors,
          },
        },
      },
      "/admin/api/keys/{id}/revoke": {
        post: {
          summary:
            "Revoke an API key: every API process refuses it (401) within moments (cached keys are dropped through Redis). Idempotent",
          security: [{ adminToken: [] }],
          parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
          responses: {
            "200": { description: "The key, with its (first) revoked_at", content: json(ref("ApiKey")) },
            ...adminAuthErrors,
            "404": problem("No such API key"),
            "503": problem("Revoked in Postgres, but Redis could not tell the API processes; revoke again to retry"),
          },
        },
      },
      "/admin/api/tenants/{id}/webhook-secret/rotate": {
        post: {
          summary:
            "A new webhook secret; webhooks carry a signature with the previous one too until previous_valid_until (WEBHOOK_SECRET_GRACE_HOURS)",
          security: [{ adminToken: [] }],
          parameters: [tenantId],
          responses: {
            "200": {
              description: "The new secret (shown once)",
              content: json({
                type: "object",
                properties: {
                  webhook_secret: { type: "string" },
                  previous_valid_until: { type: "string", format: "date-time" },
                },
              }),
            },
            ...adminAuthErrors,
            "404": adminErrors["404"],
          },
        },
      },
      "/admin/api/overview": {
        get: {
          summary:
            "Dashboard: jobs by status, queue depth, admission (capacity, admitted, queued, retry_wait, running_by_tenant), the upstream quota guard's state (upstream_quota: status ok | low | exhausted | unknown, available, unlimited, expires_at, checked_at, error, paused, paused_at, reason; null while the guard is off), each model's circuit breaker (circuits: model, state closed | open | half_open, calls and failures in CIRCUIT_WINDOW_SECONDS, failure_rate, reopens_at; null while Redis does not answer), the last hour's outcomes, errors and webhooks (all tenants)",
          security: [{ adminToken: [] }],
          responses: { "200": { description: "Overview" }, ...adminAuthErrors },
        },
      },
      "/admin/api/jobs": {
        get: {
          summary: "Dashboard: jobs of every tenant, newest first",
          security: [{ adminToken: [] }],
          parameters: ["status", "limit", "cursor"].map((name) => ({ name, in: "query", schema: { type: "string" } })),
          responses: {
            "200": {
              description:
                "A page of jobs with tenant_id and tenant_name (progress.queue_position and progress.eta_seconds are null here: open one job for them)",
            },
            ...adminAuthErrors,
          },
        },
      },
      "/admin/api/jobs/{id}": {
        get: {
          summary:
            "Dashboard: one job (with progress.queue_position and progress.eta_seconds, as GET /v1/jobs/{id} has them) with its events and webhook deliveries",
          security: [{ adminToken: [] }],
          parameters: [jobId],
          responses: {
            "200": {
              description:
                "{job, events, deliveries}; each of the job's attempts adds, for operators only, `upstream_detail` (what the upstream said: its error message, an HTML page, the image host's body, the end of the stream text) and `stream_head` (the first 2 KiB of a stream whose progress text was not recognised)",
            },
            "404": problem("No such job"),
            ...adminAuthErrors,
          },
        },
      },
      "/admin/api/stream": {
        get: {
          summary: "Dashboard: SSE of every new event of every job (resume with Last-Event-ID)",
          security: [{ adminToken: [] }],
          responses: { "200": { description: "text/event-stream" }, ...adminAuthErrors },
        },
      },
      "/dashboard": {
        get: {
          summary: "The dashboard (single-page app; sign in with the admin token)",
          security: [],
          responses: { "302": { description: "To /dashboard/" } },
        },
      },
      "/healthz": { get: { summary: "Liveness", security: [], responses: { "200": { description: "Alive" } } } },
      "/readyz": {
        get: {
          summary:
            "Readiness: Postgres and Redis reachable and workers taking jobs; checks.upstream_quota tells the upstream quota guard's state (a generation paused for quota does not make the API unready: jobs are still taken and wait)",
          security: [],
          responses: { "200": { description: "Ready" }, "503": { description: "Not ready; checks name the cause" } },
        },
      },
      "/metrics": {
        get: {
          summary: "Prometheus metrics",
          security: [],
          responses: { "200": { description: "Text exposition format" } },
        },
      },
      "/openapi.json": {
        get: { summary: "This document", security: [], responses: { "200": { description: "OpenAPI 3.1" } } },
      },
      "/docs": {
        get: { summary: "This document, rendered", security: [], responses: { "200": { description: "HTML" } } },
      },
    },
  };
}
