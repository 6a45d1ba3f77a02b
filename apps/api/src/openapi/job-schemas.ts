// The job as every endpoint, event and webhook shows it, as zod schemas for the OpenAPI document.
// Objects are strict: a field the API answers and the document does not name fails the live test
// (apps/api/test/openapi-live.int.test.ts), and the types are checked against the domain's views.
import {
  ATTEMPT_STATUSES,
  JOB_ERROR_CODES,
  JOB_STATUSES,
  MODELS,
  PRIORITIES,
  PROGRESS_STAGES,
  QUALITIES,
  SIZES,
  WEBHOOK_EVENT_TYPES,
} from "@darkroom/domain";
import { z } from "zod";

/** An ISO 8601 instant in UTC, as the API writes them. */
export const instant = (description: string) =>
  z.string().meta({ description, format: "date-time", example: "2026-12-01T10:00:00.000Z" });

export const JOB_ID_EXAMPLE = "job_01KBX7Q6T3M4W8R2N5P9YHZC0D";

export const JobErrorSchema = z
  .strictObject({
    code: z.enum(JOB_ERROR_CODES).meta({
      description:
        "Why the job (or attempt) failed. Among them: `upstream_stalled` (the stream stayed open but its progress did not move for UPSTREAM_PROGRESS_STALL_MS; retried or sent to the fallback), `upstream_busy` (the upstream's image service said it was busy and drew nothing; retried after a longer wait, UPSTREAM_BUSY_RETRY_DELAY_MS)",
    }),
    message: z.string().meta({
      description: "Darkroom's own words, never the upstream's text (which operators read in the admin API)",
    }),
    retryable: z.boolean().meta({
      description: "Whether the same request may succeed later (for a job: whether POST /retry is worth trying)",
    }),
  })
  .meta({ id: "JobError", description: "A job's (or an attempt's) error" });

const AttemptErrorSchema = JobErrorSchema.extend({
  class: z.string().nullable().meta({
    description: "How the worker classified the failure (e.g. `content_policy`, `mid_stream_error`, `stalled`)",
  }),
  http_status: z.int().nullable().meta({ description: "The upstream's HTTP status, when it answered one" }),
}).meta({ id: "AttemptError", description: "An attempt's error, with the worker's classification" });

export const AttemptSchema = z
  .strictObject({
    number: z.int().meta({ description: "1 for the first attempt; a user retry continues the numbering" }),
    model: z.string().meta({ description: "The model this attempt called", example: "gpt-4o-image" }),
    status: z
      .enum(ATTEMPT_STATUSES)
      .meta({ description: "`interrupted`: the worker running it stopped; the job is run again" }),
    error: AttemptErrorSchema.nullable().meta({ description: "Why it failed; null unless failed" }),
    upstream_request_id: z
      .string()
      .nullable()
      .meta({ description: "The upstream's request id, once the upstream answered" }),
    time_to_first_byte_ms: z
      .int()
      .nullable()
      .meta({ description: "Milliseconds until the upstream's first byte; null before it came" }),
    last_progress: z.int().nullable().meta({ description: "The last progress percent the attempt showed" }),
    last_stage: z.string().nullable().meta({ description: "Stage the progress last showed when the attempt failed" }),
    progress_stood_ms: z.int().nullable().meta({
      description: "`upstream_stalled`: how long the progress had not moved when the stream was abandoned",
    }),
    skipped: z.enum(["circuit_open"]).nullable().meta({
      description:
        "`circuit_open`: the primary model's circuit breaker was open, so this attempt went straight to the fallback without calling the primary",
    }),
    hedge: z.boolean().meta({
      description:
        "Started alongside a running attempt of the same job (hedged fallback, `hedge_after_seconds`). Of the two, the one that lost the race ends `canceled`",
    }),
    counted: z.boolean().meta({
      description:
        "Whether this call used up one of its run's `max_attempts`: false for a 429 (the upstream queue waits instead) and for an `interrupted` call (a worker stopping, the quota guard's pause)",
    }),
    started_at: instant("When the attempt started"),
    finished_at: instant("When it ended; null while running").nullable(),
  })
  .meta({ id: "Attempt", description: "One upstream call of a job" });

export const ImageSchema = z
  .strictObject({
    index: z.int().meta({ description: "0-based position among the job's images" }),
    url: z.string().meta({
      description:
        "Signed: works without a key until it expires (IMAGE_URL_TTL_SECONDS; in webhook bodies, through the whole retry window too)",
      example: `https://darkroom.example/v1/jobs/${JOB_ID_EXAMPLE}/images/0?expires=1796119200&signature=…`,
    }),
    content_type: z.string().meta({ description: "The image's media type", example: "image/png" }),
    bytes: z.int().meta({ description: "Size of the stored image" }),
    sha256: z.string().meta({ description: "Hex SHA-256 of the stored bytes (also the ETag)" }),
    width: z.int().nullable().meta({ description: "Pixels, when the image could be read" }),
    height: z.int().nullable().meta({ description: "Pixels, when the image could be read" }),
  })
  .meta({ id: "Image", description: "A stored image" });

const ProgressSchema = z
  .strictObject({
    percent: z.int().min(0).max(100).meta({ description: "0 to 100" }),
    stage: z.enum(PROGRESS_STAGES).meta({ description: "Where the job is; `failed` or `canceled` once it ended so" }),
    queue_position: z.int().min(1).nullable().meta({
      description:
        "Queued jobs: 1 = the next of the tenant's jobs to start. null when not queued, while a retry waits for its time, or when Redis cannot be read",
    }),
    eta_seconds: z.int().min(0).nullable().meta({
      description:
        "An estimate of the seconds until the job ends, from the median duration of its model's recent successes (last 24 h) and its queue position. null for terminal jobs and when there is no history",
    }),
  })
  .meta({ description: "How far the job is" });

const ResultSchema = z
  .strictObject({
    model: z.string().meta({ description: "The model that drew the images (the fallback's, after a fallback)" }),
    images: z.array(ImageSchema).meta({ description: "The stored images, by index" }),
    usage: z.unknown().meta({ description: "Token usage as the upstream reported it (its shape differs by model)" }),
    cost_usd: z.number().nullable().meta({
      description:
        "Estimated cost: the `MODEL_PRICES` price of `model` times the images stored (null for jobs finished before costs were recorded)",
    }),
  })
  .meta({ description: "What a succeeded job made" });

export const jobShape = {
  id: z.string().meta({ description: "The job's id", example: JOB_ID_EXAMPLE }),
  object: z.literal("job").meta({ description: "Always `job`" }),
  status: z.enum(JOB_STATUSES).meta({ description: "queued, running, then succeeded, failed or canceled" }),
  model: z.enum(MODELS).meta({ description: "The model asked for" }),
  fallback_model: z
    .enum(["gpt-image-1"])
    .nullable()
    .meta({ description: "The model of the last attempts; null: none" }),
  prompt: z.string().meta({ description: "As sent" }),
  n: z.int().meta({ description: "Images asked for" }),
  size: z.enum(SIZES).meta({ description: "As sent (or the default, auto)" }),
  quality: z.enum(QUALITIES).meta({ description: "As sent (or the default, auto)" }),
  max_attempts: z.int().meta({ description: "Most upstream calls for the job" }),
  deadline_at: instant("After this the job fails deadline_exceeded"),
  queue_timeout_seconds: z.int().nullable().meta({
    description: "As given at creation (10-3600); null: the job may wait in the queue until its deadline",
  }),
  queue_expires_at: instant(
    "Start-by of the current run: creation (or the last user retry) plus `queue_timeout_seconds`. A job whose run has not started by then fails `queue_timeout` without reaching the upstream, at no cost. null without `queue_timeout_seconds`",
  ).nullable(),
  hedge_after_seconds: z.int().nullable().meta({
    description:
      "As given at creation (1-600): when the primary shows no progress for this long, the fallback starts alongside it and the first valid result wins. null: no hedge",
  }),
  priority: z.enum(PRIORITIES).meta({
    description: "Order among the tenant's own queued jobs (then age); tenants share the workers by weight",
  }),
  progress: ProgressSchema,
  attempts: z.array(AttemptSchema).meta({ description: "Every upstream call so far, oldest first" }),
  attempts_used: z.int().meta({
    description:
      "Attempts of the current run (since creation or the last retry) that used up one of `max_attempts` (`counted`); never more than `max_attempts`",
  }),
  fallback_used: z.boolean().meta({ description: "Whether an attempt used fallback_model" }),
  result: ResultSchema.nullable().meta({ description: "null until the job succeeded" }),
  error: JobErrorSchema.nullable().meta({ description: "Why the job failed; null unless failed" }),
  metadata: z.record(z.string(), z.unknown()).meta({ description: "As sent" }),
  webhook_url: z.string().nullable().meta({ description: "As sent; null: no webhooks" }),
  webhook_events: z
    .array(z.enum(WEBHOOK_EVENT_TYPES))
    .meta({ description: "The event types sent to webhook_url; [] without one" }),
  created_at: instant("When the job was created"),
  started_at: instant("When its first attempt started; null before").nullable(),
  finished_at: instant("When it ended; null before").nullable(),
  updated_at: instant("Last change"),
  next_attempt_at: instant("When a retry waiting for its time will start; null otherwise").nullable(),
};

export const JobSchema = z.strictObject(jobShape).meta({
  id: "Job",
  description: "The job object every endpoint, event and webhook shows",
  example: {
    id: JOB_ID_EXAMPLE,
    object: "job",
    status: "queued",
    model: "gpt-4o-image",
    fallback_model: "gpt-image-1",
    prompt: "a lighthouse at dusk, watercolor",
    n: 1,
    size: "auto",
    quality: "auto",
    max_attempts: 4,
    deadline_at: "2026-12-01T10:15:00.000Z",
    queue_timeout_seconds: null,
    queue_expires_at: null,
    hedge_after_seconds: null,
    priority: "normal",
    progress: { percent: 0, stage: "queued", queue_position: 1, eta_seconds: 14 },
    attempts: [],
    attempts_used: 0,
    fallback_used: false,
    result: null,
    error: null,
    metadata: { order: "A-1042" },
    webhook_url: null,
    webhook_events: [],
    created_at: "2026-12-01T10:00:00.000Z",
    started_at: null,
    finished_at: null,
    updated_at: "2026-12-01T10:00:00.000Z",
    next_attempt_at: null,
  },
});

/** A page of a cursor-paginated list. */
export const jobPage = (item: z.ZodType, id: string, description: string) =>
  z
    .strictObject({
      object: z.literal("list").meta({ description: "Always `list`" }),
      data: z.array(item).meta({ description: "This page, newest first" }),
      next_cursor: z
        .string()
        .nullable()
        .meta({ description: "Pass as `cursor` for the next page; null on the last page" }),
    })
    .meta({ id, description });
