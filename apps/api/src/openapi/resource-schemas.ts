// Everything but jobs and events: webhook deliveries, usage, tenants and keys, problems, dashboard reads.
import { API_ERROR_CODES, USAGE_GROUPS } from "@darkroom/domain";
import { z } from "zod";
import { instant, JOB_ID_EXAMPLE, JobSchema } from "./job-schemas";

export const WebhookDeliverySchema = z
  .strictObject({
    id: z.string().meta({ description: "The delivery attempt's id", example: "whd_01KBX7RZ0J3V9Q2M6T8W4YHN5C" }),
    object: z.literal("webhook_delivery").meta({ description: "Always `webhook_delivery`" }),
    event_id: z.string().meta({ description: "The event sent (its webhook-id)" }),
    job_id: z.string().meta({ description: "The job of the event", example: JOB_ID_EXAMPLE }),
    url: z.string().meta({ description: "Where it was sent" }),
    attempt: z.int().meta({ description: "1 for the first send of the event, then one more per retry or redelivery" }),
    status: z
      .enum(["pending", "succeeded", "failed", "canceled"])
      .meta({ description: "pending: not sent yet; succeeded: the receiver answered 2xx" }),
    manual: z.boolean().meta({ description: "Added by POST /redeliver" }),
    response_status: z.int().nullable().meta({ description: "The receiver's HTTP status; null when none came" }),
    response_body: z.string().nullable().meta({ description: "First 1 KiB of the receiver's answer" }),
    error: z.string().nullable().meta({ description: "Why it failed (timeout, refused address, HTTP status)" }),
    duration_ms: z.int().nullable().meta({ description: "How long the send took" }),
    sent_at: instant("When it was sent; null while pending").nullable(),
    next_attempt_at: instant("When the next retry goes out; null when none will").nullable(),
    created_at: instant("When the attempt was planned"),
  })
  .meta({
    id: "WebhookDelivery",
    description: "One attempt to deliver one event to the job's webhook_url",
    example: {
      id: "whd_01KBX7RZ0J3V9Q2M6T8W4YHN5C",
      object: "webhook_delivery",
      event_id: "evt_01KBX7RYV5F8H1K4N7Q0S3V6XZ",
      job_id: JOB_ID_EXAMPLE,
      url: "https://example.com/hooks/darkroom",
      attempt: 1,
      status: "succeeded",
      manual: false,
      response_status: 204,
      response_body: "",
      error: null,
      duration_ms: 84,
      sent_at: "2026-12-01T10:00:12.000Z",
      next_attempt_at: null,
      created_at: "2026-12-01T10:00:12.000Z",
    },
  });

export const DeliveryListSchema = z
  .strictObject({
    object: z.literal("list").meta({ description: "Always `list`" }),
    data: z.array(WebhookDeliverySchema).meta({ description: "Every delivery attempt of the job, oldest first" }),
  })
  .meta({ id: "WebhookDeliveryList", description: "A job's webhook deliveries" });

export const WebhookTestResultSchema = z
  .strictObject({
    object: z.literal("webhook_test").meta({ description: "Always `webhook_test`" }),
    event_id: z
      .string()
      .meta({ description: "The `webhook-id` header sent", example: "evt_01KBX7RZ0J3V9Q2M6T8W4YHN5C" }),
    url: z.string().meta({ description: "The URL the event was sent to" }),
    ok: z.boolean().meta({ description: "Whether the receiver answered 2xx" }),
    status: z.int().nullable().meta({ description: "The receiver's HTTP status; null when none came" }),
    error: z.string().nullable().meta({
      description:
        "Why it failed (`receiver answered HTTP 500`, `connection refused`, `timed out after 10000 ms`); null on success",
    }),
    duration_ms: z.int().meta({ description: "Milliseconds from connecting to the receiver's answer" }),
    response_body: z.string().meta({ description: "The first KiB of the receiver's answer" }),
  })
  .meta({ id: "WebhookTestResult", description: "What the receiver did with the test event" });

const figures = {
  jobs_succeeded: z.int().meta({ description: "Jobs that succeeded" }),
  jobs_failed: z.int().meta({ description: "Jobs that failed" }),
  images: z.int().meta({ description: "Images stored" }),
  tokens: z.int().meta({ description: "`total_tokens` the upstream reported for the calls that stored them" }),
  cost_usd: z.number().meta({ description: "Estimated: the model's `MODEL_PRICES` price times the images it stored" }),
};
const UsageFiguresSchema = z
  .strictObject(figures)
  .meta({ id: "UsageFigures", description: "Figures of finished jobs" });

const UsageLimitSchema = z
  .strictObject({
    limit: z.number().meta({ description: "The tenant's setting" }),
    used: z.number().meta({ description: "Taken this period by succeeded jobs (images stored, or estimated USD)" }),
    reserved: z
      .number()
      .meta({ description: "Held by queued and running jobs (their `n`, or their worst-case estimated cost)" }),
    remaining: z.number().meta({ description: "`limit - used - reserved`, at least 0" }),
    resets_at: instant("Next 00:00 UTC (images_per_day), or the first instant of next UTC month (monthly_budget_usd)"),
  })
  .meta({ id: "UsageLimit", description: "One limit with what is taken of it" });

export const UsageLimitsSchema = z
  .strictObject({
    images_per_day: UsageLimitSchema.nullable().meta({ description: "null when the tenant has no daily quota" }),
    monthly_budget_usd: UsageLimitSchema.nullable().meta({ description: "null when the tenant has no budget" }),
  })
  .meta({ id: "UsageLimits", description: "The tenant's limits with what is used of each" });

export const UsageSchema = z
  .strictObject({
    object: z.literal("usage").meta({ description: "Always `usage`" }),
    from: instant("Start of the range (inclusive)"),
    to: instant("End of the range (exclusive)"),
    group_by: z.enum(USAGE_GROUPS).meta({ description: "How `data` is grouped" }),
    data: z
      .array(
        z.union([
          z.strictObject({ day: z.string().meta({ description: "The UTC day, YYYY-MM-DD" }), ...figures }),
          z.strictObject({
            model: z.string().meta({
              description: "The model that stored the images (a failed job: the model it asked for)",
            }),
            ...figures,
          }),
        ]),
      )
      .meta({ description: "One row per UTC day or model; days and models without any job are left out" }),
    totals: UsageFiguresSchema,
    limits: UsageLimitsSchema,
  })
  .meta({
    id: "Usage",
    description: "Jobs that finished (succeeded or failed) in [from, to), by `finished_at`",
  });

const tenantShape = {
  id: z.string().meta({ description: "The tenant's id", example: "ten_01KBX7KQ2W5N8R3T6V9YHZC4MD" }),
  name: z.string().meta({ description: "Its name (not unique)" }),
  created_at: instant("When it was created"),
  max_concurrency: z.int().nullable().meta({ description: "Most jobs running at once; null = no cap" }),
  weight: z.int().min(1).meta({ description: "Share of the workers against other busy tenants" }),
  rate_limit_per_minute: z.int().meta({ description: "Requests per minute per API key" }),
  images_per_day: z.int().nullable().meta({ description: "Daily image quota; null = no quota" }),
  monthly_budget_usd: z.number().nullable().meta({ description: "Monthly budget; null = no budget" }),
  previous_webhook_secret_valid_until: instant(
    "Until when webhooks also carry a signature with the secret before the last rotation",
  ).nullable(),
};
export const TenantSchema = z
  .strictObject(tenantShape)
  .meta({ id: "Tenant", description: "A tenant and its settings" });
export const TenantWithLimitsSchema = z
  .strictObject({ ...tenantShape, limits: UsageLimitsSchema })
  .meta({ id: "TenantWithLimits", description: "A tenant with what is used of its quota and budget" });

export const ApiKeySchema = z
  .strictObject({
    id: z.string().meta({ description: "The key's id (not the key)", example: "key_01KBX7M0A4C7F2H5K8N1Q3S6VW" }),
    tenant_id: z.string().meta({ description: "Its tenant" }),
    name: z.string().meta({ description: "Its name" }),
    prefix: z.string().meta({ description: "First 10 characters of the key", example: "dr_live_ab" }),
    created_at: instant("When it was created"),
    last_used_at: instant("Last use, to the minute; null when never used").nullable(),
    revoked_at: instant("When it was revoked; null while valid").nullable(),
  })
  .meta({ id: "ApiKey", description: "An API key as the admin API shows it: never the key itself" });

export const ProblemSchema = z
  .strictObject({
    type: z.string().meta({ description: "`urn:darkroom:error:<code>`", example: "urn:darkroom:error:not_found" }),
    title: z.string().meta({ description: "A summary of the code", example: "Not found" }),
    status: z.int().meta({ description: "The HTTP status", example: 404 }),
    detail: z.string().meta({ description: "What went wrong and what to do", example: "No job job_01KBX…." }),
    code: z.enum(API_ERROR_CODES).meta({ description: "The error's code (the last part of `type`)" }),
    request_id: z.string().nullable().meta({ description: "Names the request in the logs", example: "req_01KBX…" }),
    errors: z
      .array(
        z.strictObject({
          path: z.string().meta({ description: "The field (`metadata.k`), or `(root)`", example: "n" }),
          message: z.string().meta({ description: "What is wrong with it", example: "must be at most 4" }),
        }),
      )
      .optional()
      .meta({ description: "400 validation_failed: every bad field at once" }),
    limit: z
      .strictObject({
        name: z
          .enum([
            "rate_limit_per_minute",
            "max_streams_per_key",
            "auth_failures_per_minute",
            "webhook_redeliveries_per_minute",
            "images_per_day",
            "monthly_budget_usd",
          ])
          .meta({ description: "Which limit" }),
        value: z.number().meta({ description: "The limit" }),
        used: z.number().optional().meta({ description: "Taken this period" }),
        reserved: z.number().optional().meta({ description: "Held by queued and running jobs" }),
        requested: z.number().optional().meta({ description: "What this request would take" }),
        resets_at: instant("When the period ends").optional(),
      })
      .optional()
      .meta({ description: "429: the limit that was reached" }),
  })
  .meta({
    id: "Problem",
    description: "RFC 9457 problem details (`application/problem+json`), on every error",
    example: {
      type: "urn:darkroom:error:validation_failed",
      title: "The request has invalid fields",
      status: 400,
      detail: "Invalid field(s): n.",
      code: "validation_failed",
      request_id: "req_01KBX7S2D5G8J1M4P7R0T3W6YZ",
      errors: [{ path: "n", message: "must be at most 4" }],
    },
  });

const count = (description: string) => z.int().meta({ description });
export const OverviewSchema = z
  .strictObject({
    jobs: z
      .strictObject({
        queued: count("Jobs now queued"),
        running: count("Jobs now running"),
        succeeded: count("Jobs now succeeded"),
        failed: count("Jobs now failed"),
        canceled: count("Jobs now canceled"),
      })
      .meta({ description: "Jobs of every tenant by status" }),
    queue: z
      .strictObject({
        waiting: count("BullMQ jobs waiting"),
        active: count("BullMQ jobs running"),
        delayed: count("BullMQ jobs waiting for a retry"),
        failed: count("BullMQ jobs failed"),
      })
      .nullable()
      .meta({ description: "The generation queue; null when Redis did not answer" }),
    last_hour: z
      .strictObject({
        created: count("Jobs created"),
        succeeded: count("Jobs succeeded"),
        failed: count("Jobs failed"),
        attempts: count("Attempts started"),
        failed_attempts: count("Attempts failed"),
        fallback_used: count("Jobs that used their fallback"),
        p50_seconds: z.number().nullable().meta({ description: "Median duration of succeeded jobs" }),
        p95_seconds: z.number().nullable().meta({ description: "95th percentile duration of succeeded jobs" }),
      })
      .meta({ description: "The last hour's outcomes" }),
    errors_last_hour: z
      .array(
        z.strictObject({
          code: z.string().meta({ description: "A job error code" }),
          count: count("Failed attempts with it"),
        }),
      )
      .meta({ description: "Failed attempts of the last hour by error code" }),
    webhooks: z
      .strictObject({
        pending: count("Deliveries waiting to be sent"),
        succeeded_last_hour: count("Deliveries that succeeded in the last hour"),
        failed_last_hour: count("Deliveries that failed in the last hour"),
      })
      .meta({ description: "Webhook deliveries" }),
    admission: z
      .strictObject({
        capacity: count("Jobs the workers may run at once"),
        admitted: count("Jobs handed to the workers"),
        queued: count("Jobs waiting in the tenants' intakes"),
        retry_wait: count("Jobs waiting for a retry's time"),
        running_by_tenant: z.record(z.string(), z.int()).meta({ description: "Admitted jobs per tenant id" }),
      })
      .nullable()
      .meta({ description: "Fair admission of the tenants' jobs; null when Redis did not answer" }),
    upstream_quota: z
      .strictObject({
        status: z.enum(["ok", "low", "exhausted", "unknown"]).meta({ description: "The quota guard's verdict" }),
        available: z.number().nullable().meta({ description: "Quota left, as the upstream said" }),
        unlimited: z.boolean().meta({ description: "The upstream key has no quota" }),
        expires_at: instant("When the upstream key expires").nullable(),
        checked_at: instant("Last check").nullable(),
        error: z.string().nullable().meta({ description: "Why the last check failed" }),
        paused: z.boolean().meta({ description: "Generation is held until the quota returns" }),
        paused_at: instant("Since when generation is held").nullable(),
        reason: z.string().nullable().meta({ description: "Why generation is held" }),
      })
      .nullable()
      .meta({ description: "The upstream quota guard's state; null while the guard is off" }),
    circuits: z
      .array(
        z.strictObject({
          model: z.string().meta({ description: "The model" }),
          state: z.enum(["closed", "open", "half_open"]).meta({ description: "The breaker's state" }),
          calls: count("Calls in CIRCUIT_WINDOW_SECONDS"),
          failures: count("Failed calls in CIRCUIT_WINDOW_SECONDS"),
          failure_rate: z.number().meta({ description: "failures / calls" }),
          reopens_at: instant("When an open breaker lets a trial call through").nullable(),
        }),
      )
      .nullable()
      .meta({ description: "Each model's circuit breaker; null while Redis does not answer" }),
    generated_at: instant("When this was read"),
  })
  .meta({ id: "Overview", description: "What the dashboard's overview shows, for every tenant" });

const operatorAttempt = (JobSchema.shape.attempts.element as z.ZodObject).extend({
  upstream_detail: z.string().nullable().meta({
    description:
      "What the upstream said: its error message, an HTML page, the image host's body, the end of the stream",
  }),
  stream_head: z
    .string()
    .nullable()
    .meta({ description: "The first 2 KiB of a stream whose progress text was not recognised" }),
});

export const AdminJobSchema = JobSchema.extend({
  attempts: z.array(operatorAttempt).meta({ description: "Every attempt, with what the upstream said" }),
  tenant_id: z.string().meta({ description: "The job's tenant" }),
  tenant_name: z.string().meta({ description: "Its name" }),
}).meta({ id: "AdminJob", description: "A job as operators see it" });

export const AdminJobDetailSchema = z
  .strictObject({
    job: AdminJobSchema,
    events: z
      .array(
        z.strictObject({
          seq: z.int().meta({ description: "The event's seq" }),
          type: z.string().meta({ description: "The event type" }),
          data: z.unknown().meta({ description: "The event's data (see Event)" }),
          created_at: instant("When it was committed"),
        }),
      )
      .meta({ description: "The job's first 500 events" }),
    deliveries: z.array(WebhookDeliverySchema).meta({ description: "Its webhook deliveries" }),
  })
  .meta({ id: "AdminJobDetail", description: "One job with its events and webhook deliveries" });

const counts = (description: string) => z.array(z.number().int()).meta({ description });
const seconds = z
  .array(z.number().nullable())
  .meta({ description: "Seconds from creation to success, per bucket (null: none)" });

/** `GET /admin/api/trends` (the overview's charts): `AdminTrends` of `@darkroom/domain`. */
export const TrendsSchema = z
  .object({
    window: z.enum(["1h", "24h"]).meta({ description: "The window asked for" }),
    from: z.iso.datetime().meta({ description: "Start of the first bucket" }),
    bucket_seconds: z.number().int().meta({ description: "Width of a bucket", example: 60 }),
    buckets: z.number().int().meta({ description: "Values in every series", example: 60 }),
    created: counts("Jobs created"),
    succeeded: counts("Jobs that succeeded"),
    failed: counts("Jobs that failed"),
    canceled: counts("Jobs canceled"),
    fallback_used: counts("Of the jobs that succeeded, how many through the fallback model"),
    duration_by_model: z
      .record(z.string(), z.object({ p50: seconds, p95: seconds }))
      .meta({ description: "Per model that produced the result" }),
    errors_by_code: z.record(z.string(), counts("Failed jobs")).meta({ description: "Per error code" }),
    deliveries_succeeded: counts("Webhook deliveries that succeeded"),
    deliveries_failed: counts("Webhook deliveries that failed for good"),
    generated_at: z.iso.datetime().meta({ description: "When this was read" }),
  })
  .meta({ id: "AdminTrends", description: "The overview's time series" });
