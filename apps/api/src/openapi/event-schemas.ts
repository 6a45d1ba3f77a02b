// A job's events, typed per event type (`data` differs by type), and the webhook bodies.
import { JOB_ERROR_CODES, MODELS, PROGRESS_STAGES, type WEBHOOK_EVENT_TYPES } from "@darkroom/domain";
import { z } from "zod";
import { instant, JOB_ID_EXAMPLE, JobErrorSchema, JobSchema } from "./job-schemas";

const attempt = z.int().meta({ description: "The attempt's number" });
const actor = z.enum(["client", "admin"]).meta({
  description: "Who asked: `client` (the tenant's API key) or `admin` (an operator, in the console)",
});

/** `data` of each event type, as the database writes it (packages/db attempts.ts, jobs.ts, user-actions.ts). */
export const EVENT_DATA = {
  "job.queued": z
    .strictObject({
      status: z.literal("queued").meta({ description: "Always `queued`" }),
      retry: z.literal(true).optional().meta({ description: "Present (true) when a user retry queued the job again" }),
      actor: actor.optional().meta({ description: "On a retry: who asked for it" }),
    })
    .meta({ id: "JobQueuedData", description: "The job was created, or queued again by POST /retry" }),
  "job.started": z
    .strictObject({
      attempt,
      model: z.enum(MODELS).meta({ description: "The model this attempt calls" }),
      skipped: z.literal("circuit_open").optional().meta({
        description: "Present when the primary's circuit breaker was open and this attempt went to the fallback",
      }),
      hedge: z
        .literal(true)
        .optional()
        .meta({ description: "Present (true) on a hedge: the fallback started beside a stalled primary" }),
    })
    .meta({ id: "JobStartedData", description: "An attempt started" }),
  "job.progress": z
    .strictObject({
      attempt,
      percent: z.int().min(0).max(100).meta({ description: "0 to 100" }),
      stage: z.enum(PROGRESS_STAGES).meta({ description: "Where the attempt is" }),
    })
    .meta({
      id: "JobProgressData",
      description: "The attempt's progress moved",
      example: { attempt: 1, percent: 40, stage: "generating" },
    }),
  "job.attempt_failed": z
    .strictObject({
      attempt,
      error: JobErrorSchema,
      next_attempt_at: instant("When the next attempt starts; null when none is planned (the job fails)").nullable(),
      still_running: z.int().optional().meta({
        description: "Hedged runs: the attempt that goes on after this one failed",
      }),
      interrupted: z
        .literal(true)
        .optional()
        .meta({ description: "Present (true) when the worker running the attempt stopped" }),
    })
    .meta({
      id: "JobAttemptFailedData",
      description: "An attempt failed",
      example: {
        attempt: 1,
        error: { code: "upstream_error", message: "The upstream answered HTTP 500.", retryable: true },
        next_attempt_at: "2026-12-01T10:00:20.000Z",
      },
    }),
  "job.fallback": z
    .strictObject({
      after_attempt: z.int().meta({ description: "The attempt after which the fallback takes over" }),
      reason: z.enum(JOB_ERROR_CODES).meta({ description: "The error code that sent the job to its fallback" }),
    })
    .meta({ id: "JobFallbackData", description: "The next attempts use fallback_model" }),
  "job.succeeded": z
    .strictObject({
      attempt,
      model: z.string().meta({ description: "The model that drew the images" }),
      images: z.int().meta({ description: "How many images were stored" }),
    })
    .meta({ id: "JobSucceededData", description: "The images are stored" }),
  "job.failed": z
    .strictObject({ error: JobErrorSchema })
    .meta({ id: "JobFailedData", description: "The job failed for good" }),
  "job.canceled": z
    .strictObject({
      previous_status: z.enum(["queued", "running"]).meta({ description: "The status the job was canceled from" }),
      actor: actor
        .optional()
        .meta({ description: "Who canceled it (absent on events written before actors were recorded)" }),
    })
    .meta({ id: "JobCanceledData", description: "POST /cancel stopped the job" }),
  "job.webhook_redelivered": z
    .strictObject({
      delivery_id: z.string().meta({ description: "The new delivery (whd_…), sent shortly", example: "whd_…" }),
      event_id: z.string().meta({ description: "The event delivered again (evt_…)", example: "evt_…" }),
      actor,
    })
    .meta({
      id: "JobWebhookRedeliveredData",
      description: "A webhook delivery was asked again (POST /redeliver); never itself a webhook",
    }),
} as const;

export type JobEventTypeName = keyof typeof EVENT_DATA;
export const EVENT_TYPES = Object.keys(EVENT_DATA) as JobEventTypeName[];
const TERMINAL_EVENTS = new Set<JobEventTypeName>(["job.succeeded", "job.failed", "job.canceled"]);

/** `job.attempt_failed` -> `JobAttemptFailed`: how the document names an event type's schemas. */
export const pascal = (type: string) =>
  type
    .split(/[._]/)
    .map((w) => (w[0] ?? "").toUpperCase() + w.slice(1))
    .join("");

function eventOf<T extends JobEventTypeName>(type: T) {
  return z
    .strictObject({
      id: z.string().meta({ description: "The event's id (also the webhook-id of its webhooks)", example: "evt_…" }),
      object: z.literal("event").meta({ description: "Always `event`" }),
      seq: z.int().meta({
        description:
          "Position in the log of every job (global, so one job's events skip numbers); SSE `id:` and `after` take it",
      }),
      type: z.literal(type).meta({ description: "The event type" }),
      job_id: z.string().meta({ description: "The job's id", example: JOB_ID_EXAMPLE }),
      created_at: instant("When the event was committed"),
      data: EVENT_DATA[type],
      ...(TERMINAL_EVENTS.has(type)
        ? {
            job: JobSchema.optional().meta({
              description:
                "The job as this event left it (terminal events only): a job retried since still shows how that run ended",
            }),
          }
        : {}),
    })
    .meta({ id: `${pascal(type)}Event`, description: `A \`${type}\` event` });
}

/** A progress the worker published before committing it (event streams only, unless `live=false`). */
const LiveProgressEventSchema = z
  .strictObject({
    id: z.null().meta({ description: "null: not committed yet" }),
    object: z.literal("event").meta({ description: "Always `event`" }),
    seq: z.null().meta({ description: "null: not committed yet" }),
    type: z.literal("job.progress").meta({ description: "Always `job.progress`" }),
    job_id: z.string().meta({ description: "The job's id" }),
    created_at: instant("When the worker had the progress"),
    data: EVENT_DATA["job.progress"],
    live: z.literal(true).meta({ description: "Always true: sent before it is committed, SSE frame without `id:`" }),
  })
  .meta({
    id: "LiveProgressEvent",
    description:
      "Event streams only: a progress sent the moment the worker has it, before it is committed (no `id:` line). The durable `job.progress` follows as its `id:` alone when the client already saw that progress",
  });

export const EventSchema = z.union(EVENT_TYPES.map((type) => eventOf(type))).meta({
  id: "Event",
  description: "One entry of a job's event log; `data` depends on `type`",
});

export const StreamEventSchema = z.union([EventSchema, LiveProgressEventSchema]).meta({
  id: "StreamEvent",
  description: "The `data:` of an SSE frame: an event, or a live progress",
});

export const EventPageSchema = z
  .strictObject({
    object: z.literal("list").meta({ description: "Always `list`" }),
    data: z.array(EventSchema).meta({ description: "Up to 100 events after `after`, oldest first" }),
    has_more: z.boolean().meta({ description: "true: ask again with `after` = the last seq of this page" }),
  })
  .meta({ id: "EventPage", description: "A page of a job's events" });

/** The body of a webhook of one event type: the job as of its event. */
export const webhookBody = <T extends (typeof WEBHOOK_EVENT_TYPES)[number]>(type: T) =>
  z
    .strictObject({
      type: z.literal(type).meta({ description: "The event type" }),
      timestamp: instant("When the event was committed"),
      data: JobSchema,
    })
    .meta({
      id: `${pascal(type)}Webhook`,
      description: `The body of a \`${type}\` webhook`,
    });

/** The body of the `webhook.test` event `POST /v1/webhooks/test` sends. */
export const WebhookTestBodySchema = z
  .strictObject({
    type: z.literal("webhook.test").meta({ description: "The event type" }),
    timestamp: instant("When the test event was made"),
    data: z
      .strictObject({
        tenant_id: z.string().meta({ description: "The tenant whose key asked for the test" }),
        message: z.string().meta({ description: "A fixed sentence saying what this is" }),
      })
      .meta({ description: "Who asked" }),
  })
  .meta({ id: "WebhookTestWebhook", description: "The body of a `webhook.test` webhook" });
