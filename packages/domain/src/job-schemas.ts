import { z } from "zod";
import type { JobErrorCode } from "./errors";
import type { JobStatus, ProgressStage } from "./job-state";

export const MODELS = ["gpt-4o-image", "gpt-image-1"] as const;
export type Model = (typeof MODELS)[number];
export const SIZES = ["1024x1024", "1536x1024", "1024x1536", "auto"] as const;
export type ImageSize = (typeof SIZES)[number];
export const QUALITIES = ["low", "medium", "high", "auto"] as const;
export type ImageQuality = (typeof QUALITIES)[number];
export const WEBHOOK_EVENT_TYPES = [
  "job.started",
  "job.progress",
  "job.succeeded",
  "job.failed",
  "job.canceled",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
export const DEFAULT_WEBHOOK_EVENTS: WebhookEventType[] = ["job.succeeded", "job.failed", "job.canceled"];

export const METADATA_MAX_BYTES = 16 * 1024;
export const METADATA_MAX_DEPTH = 16;

/** Nesting depth of a JSON value, counted without recursion (so a hostile value cannot blow the stack). */
function depthExceeds(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const next = stack.pop();
    if (next === undefined) break;
    const [item, depth] = next;
    if (item === null || typeof item !== "object") continue;
    if (depth >= max) return true;
    for (const child of Object.values(item as Record<string, unknown>)) stack.push([child, depth + 1]);
  }
  return false;
}

/** Postgres text and jsonb cannot hold NUL characters; refuse them by name instead of failing later. */
const hasNul = (text: string) => text.includes("\u0000");

/** A high surrogate not followed by a low one, or a low one not preceded by a high one (code units, no `u` flag). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * True when `text` holds a UTF-16 surrogate without its partner (JSON `"\udfff"`). Such text is not
 * Unicode: Postgres jsonb refuses it (a 500 if it got that far) and a text column silently stores
 * U+FFFD instead, so request strings that reach the database are refused with it.
 */
export const hasLoneSurrogate = (text: string): boolean => LONE_SURROGATE.test(text);

/** The message for a string with a lone surrogate, the same for every field. */
export const LONE_SURROGATE_MESSAGE = "must not contain an unpaired UTF-16 surrogate (such as \\udfff)";

/** Most issues one metadata value reports, so a hostile 16 KiB object cannot make a huge answer. */
const METADATA_MAX_ISSUES = 10;

/**
 * Keys and values of a metadata object that cannot be stored as written: strings (keys too) with a
 * lone surrogate, and numbers JSON.parse turned into Infinity (`1e400` would be stored as null).
 * Each issue's path is relative to `metadata`; keys are shown JSON-escaped. Walked without
 * recursion, paths kept as parent links and built only for an issue, so it stays linear in the
 * size of the value whatever its depth.
 */
function metadataIssues(value: Record<string, unknown>): { path: string[]; message: string }[] {
  interface Step {
    key: string;
    parent: Step | null;
  }
  const pathOf = (step: Step | null): string[] => {
    const keys: string[] = [];
    for (let s = step; s !== null; s = s.parent) keys.push(s.key);
    return keys.reverse();
  };
  const issues: { path: string[]; message: string }[] = [];
  const stack: [unknown, Step | null][] = [[value, null]];
  while (stack.length > 0 && issues.length < METADATA_MAX_ISSUES) {
    const next = stack.pop();
    if (next === undefined) break;
    const [item, at] = next;
    if (typeof item === "string") {
      if (hasLoneSurrogate(item)) issues.push({ path: pathOf(at), message: LONE_SURROGATE_MESSAGE });
    } else if (typeof item === "number") {
      if (!Number.isFinite(item))
        issues.push({ path: pathOf(at), message: "must be a finite number (at most about 1.8e308)" });
    } else if (item !== null && typeof item === "object") {
      // Reversed so that issues come out in document order.
      for (const [key, child] of Object.entries(item as Record<string, unknown>).reverse()) {
        if (hasLoneSurrogate(key)) {
          const shown = JSON.stringify(key).slice(1, -1);
          issues.push({ path: pathOf({ key: shown, parent: at }), message: `key ${LONE_SURROGATE_MESSAGE}` });
        } else stack.push([child, { key, parent: at }]);
      }
    }
  }
  return issues;
}

const absoluteHttpUrl = z.string().refine(
  (value) => {
    try {
      const url = new URL(value);
      return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
    } catch {
      return false;
    }
  },
  { message: "must be an absolute http(s) URL" },
);

/** Order among a tenant's own queued jobs (then age). */
export const PRIORITIES = ["high", "normal", "low"] as const;
export type Priority = (typeof PRIORITIES)[number];

/** Body of `POST /v1/jobs`. Unknown fields are rejected so that typos never pass silently. */
export const JobCreateSchema = z
  .strictObject({
    prompt: z
      .string({ error: "is required and must be a string" })
      .min(1, { error: "must not be empty" })
      .max(32000, { error: "must be at most 32000 characters" })
      .refine((p) => !hasNul(p), { message: "must not contain NUL characters" })
      .refine((p) => !hasLoneSurrogate(p), { message: LONE_SURROGATE_MESSAGE })
      .meta({
        description: "What to draw, 1 to 32,000 characters (no NUL, no unpaired UTF-16 surrogate)",
        example: "a lighthouse at dusk, watercolor",
      }),
    model: z
      .enum(MODELS, { error: `must be one of ${MODELS.join(", ")}` })
      .default("gpt-4o-image")
      .meta({ description: "The model of the first attempts" }),
    // Absent: gpt-image-1 for gpt-4o-image, none for gpt-image-1 itself (see the transform below).
    fallback_model: z
      .enum(["gpt-image-1"], { error: "must be gpt-image-1 or null" })
      .nullable()
      .optional()
      .describe("The model of the last attempt. Default: gpt-image-1 for gpt-4o-image, none (null) for gpt-image-1"),
    n: z
      .int({ error: "must be an integer" })
      .min(1, { error: "must be at least 1" })
      .max(4, { error: "must be at most 4" })
      .default(1)
      .meta({ description: "How many images, 1 to 4" }),
    size: z
      .enum(SIZES, { error: `must be one of ${SIZES.join(", ")}` })
      .default("auto")
      .meta({ description: "Width x height in pixels; auto lets the model choose" }),
    quality: z
      .enum(QUALITIES, { error: `must be one of ${QUALITIES.join(", ")}` })
      .default("auto")
      .meta({ description: "Rendering quality (gpt-image-1 honours it; gpt-4o-image ignores it)" }),
    max_attempts: z
      .int({ error: "must be an integer" })
      .min(1, { error: "must be at least 1" })
      .max(10, { error: "must be at most 10" })
      .default(4)
      .meta({ description: "Most upstream calls for the job, fallback included (1-10)" }),
    deadline_seconds: z
      .int({ error: "must be an integer" })
      .min(10, { error: "must be at least 10" })
      .max(3600, { error: "must be at most 3600" })
      .default(900)
      .meta({ description: "Seconds from creation after which the job fails deadline_exceeded (10-3600)" }),
    /** Start-by: a job not started this long after creation (or a user retry) fails `queue_timeout`. */
    queue_timeout_seconds: z
      .int({ error: "must be an integer" })
      .min(10, { error: "must be at least 10" })
      .max(3600, { error: "must be at most 3600" })
      .nullable()
      .default(null)
      .describe(
        "Seconds the job may wait before its first attempt starts; past that it fails queue_timeout without reaching the upstream, at no cost. null: it may wait until its deadline",
      ),
    /** Hedged fallback: the fallback starts alongside a primary that showed no progress this long. */
    hedge_after_seconds: z
      .int({ error: "must be an integer" })
      .min(1, { error: "must be at least 1" })
      .max(600, { error: "must be at most 600" })
      .nullable()
      .default(null)
      .describe(
        "Hedged fallback: when the primary model has shown no progress for this many seconds, the fallback starts alongside it; the first valid result wins and the other call is aborted (both attempts are recorded and both count toward usage). Needs a fallback_model other than model and max_attempts of at least 2. null: no hedge",
      ),
    priority: z
      .enum(PRIORITIES, { error: `must be one of ${PRIORITIES.join(", ")}` })
      .default("normal")
      .meta({ description: "Order among the tenant's own queued jobs (then age)" }),
    webhook_url: absoluteHttpUrl
      .refine((url) => !hasLoneSurrogate(url), { message: LONE_SURROGATE_MESSAGE })
      .nullable()
      .default(null)
      .meta({
        description:
          "Where to POST signed webhooks (Standard Webhooks) for this job's events; private and loopback addresses are refused unless ALLOW_PRIVATE_WEBHOOK_URLS=true",
        example: "https://example.com/hooks/darkroom",
      }),
    webhook_events: z
      .array(z.enum(WEBHOOK_EVENT_TYPES, { error: `each must be one of ${WEBHOOK_EVENT_TYPES.join(", ")}` }), {
        error: "must be an array of event types",
      })
      .refine((events) => new Set(events).size === events.length, { message: "must not repeat an event type" })
      .optional()
      .meta({
        description:
          "Which events to send to webhook_url (needs webhook_url). Default with a webhook_url: job.succeeded, job.failed, job.canceled",
      }),
    metadata: z
      .record(z.string(), z.unknown(), { error: "must be a JSON object" })
      .superRefine((value, ctx) => {
        if (depthExceeds(value, METADATA_MAX_DEPTH)) {
          ctx.addIssue({ code: "custom", message: `must be nested at most ${METADATA_MAX_DEPTH} levels deep` });
          return;
        }
        for (const issue of metadataIssues(value)) ctx.addIssue({ code: "custom", ...issue });
        const serialized = JSON.stringify(value);
        if (Buffer.byteLength(serialized, "utf8") > METADATA_MAX_BYTES) {
          ctx.addIssue({ code: "custom", message: `must be at most ${METADATA_MAX_BYTES} bytes serialized` });
        } else if (serialized.includes("\\u0000")) {
          ctx.addIssue({ code: "custom", message: "must not contain NUL characters" });
        }
      })
      .default({})
      .meta({
        description: "Your own JSON object, returned as sent (at most 16 KiB serialized, 16 levels deep)",
        example: { order: "A-1042" },
      }),
  })
  .superRefine((job, ctx) => {
    if (job.fallback_model !== undefined && job.fallback_model !== null && job.fallback_model === job.model) {
      ctx.addIssue({
        code: "custom",
        path: ["fallback_model"],
        message: `must differ from model (${job.model} cannot fall back to itself); null for no fallback`,
      });
    }
    if (job.hedge_after_seconds !== null && fallbackOf(job) === null) {
      ctx.addIssue({
        code: "custom",
        path: ["hedge_after_seconds"],
        message: "needs a fallback_model other than model (there is nothing to hedge with)",
      });
    } else if (job.hedge_after_seconds !== null && job.max_attempts < 2) {
      // The hedge is an attempt of its own: with one, the job could not make it.
      ctx.addIssue({
        code: "custom",
        path: ["hedge_after_seconds"],
        message: "needs max_attempts of at least 2 (the hedge is an attempt of its own)",
      });
    }
    if (job.webhook_events !== undefined && job.webhook_events.length > 0 && job.webhook_url === null) {
      ctx.addIssue({
        code: "custom",
        path: ["webhook_events"],
        message: "needs webhook_url: events are only sent to a webhook",
      });
    }
  })
  .transform((job) => ({ ...job, fallback_model: fallbackOf(job) }));

/** The fallback a job gets: as given, else gpt-image-1 for any other model (none for gpt-image-1). */
function fallbackOf(job: { model: Model; fallback_model?: "gpt-image-1" | null | undefined }): "gpt-image-1" | null {
  if (job.fallback_model !== undefined) return job.fallback_model === job.model ? null : job.fallback_model;
  return job.model === "gpt-image-1" ? null : "gpt-image-1";
}
export type JobCreateInput = z.input<typeof JobCreateSchema>;
export type JobCreate = z.infer<typeof JobCreateSchema>;

const isoDate = z.iso.datetime({ offset: true, error: "must be an ISO 8601 date-time" });

/** Query of `GET /v1/jobs`. */
export const JobListQuerySchema = z.strictObject({
  status: z
    .enum(["queued", "running", "succeeded", "failed", "canceled"], { error: "must be a job status" })
    .optional()
    .meta({ description: "Only jobs in this status (one status)" }),
  model: z
    .enum(MODELS, { error: `must be one of ${MODELS.join(", ")}` })
    .optional()
    .meta({
      description:
        "Jobs that asked for this model (their `model`), whichever model produced the result: a job that fell back to gpt-image-1 matches `model=gpt-4o-image`, not `model=gpt-image-1` (see `result_model`)",
    }),
  result_model: z
    .enum(MODELS, { error: `must be one of ${MODELS.join(", ")}` })
    .optional()
    .meta({
      description:
        "Jobs whose images this model stored (their `result.model`, the fallback's when it took over); only succeeded jobs have one",
    }),
  created_after: isoDate.optional().meta({ description: "Only jobs created at or after this instant" }),
  created_before: isoDate.optional().meta({ description: "Only jobs created before this instant" }),
  limit: z.coerce
    .number({ error: "must be an integer" })
    .int({ error: "must be an integer" })
    .min(1, { error: "must be at least 1" })
    .max(100, { error: "must be at most 100" })
    .default(20)
    .meta({ description: "Page size, 1 to 100" }),
  cursor: z
    .string()
    .regex(/^job_[0-9A-HJKMNP-TV-Z]{26}$/, { error: "is not a cursor this API issued" })
    .optional()
    .meta({ description: "The previous page's next_cursor" }),
});
export type JobListQuery = z.infer<typeof JobListQuerySchema>;

export interface JobErrorView {
  code: JobErrorCode;
  message: string;
  retryable: boolean;
}

/** What became of one attempt; `interrupted`: the worker running it stopped, and the job runs again. */
export const ATTEMPT_STATUSES = ["running", "succeeded", "failed", "canceled", "interrupted"] as const;
export type AttemptStatus = (typeof ATTEMPT_STATUSES)[number];

export interface AttemptView {
  number: number;
  model: string;
  status: AttemptStatus;
  error: (JobErrorView & { class: string | null; http_status: number | null }) | null;
  upstream_request_id: string | null;
  time_to_first_byte_ms: number | null;
  last_progress: number | null;
  /** The stage the progress last showed when the attempt failed (`starting`, `queuing_upstream`, `generating`, `storing`). */
  last_stage: string | null;
  /** `upstream_stalled`: how long the progress had not moved when the stream was abandoned. */
  progress_stood_ms: number | null;
  /**
   * `circuit_open`: the primary model's circuit breaker was open, so this attempt went straight to
   * the fallback without calling the primary; null otherwise.
   */
  skipped: "circuit_open" | null;
  /** Started alongside a running attempt of the same job (hedged fallback, `hedge_after_seconds`). */
  hedge: boolean;
  /**
   * Whether this call used up one of its run's `max_attempts`: false for a 429 (the upstream queue
   * waits instead) and for an `interrupted` call (a worker stopping, the quota guard's pause).
   */
  counted: boolean;
  started_at: string;
  finished_at: string | null;
}

/**
 * An attempt as operators see it (admin API, dashboard): the upstream's own words, which tenants
 * never see, are added.
 */
export interface OperatorAttemptView extends AttemptView {
  /** What the upstream said: its error message, an HTML page, the image host's body, the stream's last text. */
  upstream_detail: string | null;
  /** The first 2 KiB of a stream whose progress text Darkroom did not recognise. */
  stream_head: string | null;
}

export interface ImageView {
  index: number;
  url: string;
  content_type: string;
  bytes: number;
  sha256: string;
  width: number | null;
  height: number | null;
}

/** The job object every endpoint, event and webhook shows. */
export interface JobView {
  id: string;
  object: "job";
  status: JobStatus;
  model: Model;
  fallback_model: "gpt-image-1" | null;
  prompt: string;
  n: number;
  size: ImageSize;
  quality: ImageQuality;
  max_attempts: number;
  deadline_at: string;
  /** As given at creation; null: the job may wait until its deadline. */
  queue_timeout_seconds: number | null;
  /** The start-by of the current run (creation or last user retry plus `queue_timeout_seconds`); null without one. */
  queue_expires_at: string | null;
  /** As given at creation; null: no hedged fallback. */
  hedge_after_seconds: number | null;
  priority: Priority;
  progress: {
    percent: number;
    stage: ProgressStage;
    /** Queued jobs: 1 = the next of its tenant to start. Null otherwise, or while a retry waits for its time. */
    queue_position: number | null;
    /** An estimate of the seconds until the job ends, from recent durations of its model; null when unknown. */
    eta_seconds: number | null;
  };
  attempts: AttemptView[];
  /**
   * Attempts of the current run (since creation or the last `POST /retry`) that used up one of
   * `max_attempts` (`counted`); never more than `max_attempts`.
   */
  attempts_used: number;
  fallback_used: boolean;
  /** `cost_usd`: the estimate (MODEL_PRICES of `model` times the images stored); null for jobs stored before it was recorded. */
  result: { model: string; images: ImageView[]; usage: unknown; cost_usd: number | null } | null;
  error: JobErrorView | null;
  metadata: Record<string, unknown>;
  webhook_url: string | null;
  webhook_events: WebhookEventType[];
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
  next_attempt_at: string | null;
}
