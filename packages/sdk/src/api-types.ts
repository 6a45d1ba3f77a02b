/**
 * The API's JSON shapes, as the SDK publishes them. They are written out here rather than imported
 * from the server's packages, so that the published package (and its `.d.ts`) stands alone; the
 * type check of the repository proves them equal to the server's own (`api-types.test.ts`).
 */

/** A job's statuses. */
export type JobStatus = "queued" | "running" | "succeeded" | "failed" | "canceled";

/** The image models. */
export type Model = "gpt-4o-image" | "gpt-image-1";

export type ImageSize = "1024x1024" | "1536x1024" | "1024x1536" | "auto";
export type ImageQuality = "low" | "medium" | "high" | "auto";

/** Order among a tenant's own queued jobs (then age). */
export type Priority = "high" | "normal" | "low";

/** Events a job's webhook can be sent. */
export type WebhookEventType = "job.started" | "job.progress" | "job.succeeded" | "job.failed" | "job.canceled";

/** A job's progress stage; `done`, `failed` and `canceled` are where its terminal states leave it. */
export type ProgressStage =
  | "queued"
  | "starting"
  | "queuing_upstream"
  | "generating"
  | "storing"
  | "done"
  | "failed"
  | "canceled";

/** Why a job failed. */
export type JobErrorCode =
  | "bad_request"
  | "content_policy"
  | "upstream_auth"
  | "upstream_quota"
  | "upstream_unavailable"
  | "upstream_rate_limited"
  | "upstream_error"
  | "upstream_timeout"
  | "upstream_stalled"
  | "upstream_busy"
  | "stream_truncated"
  | "no_image"
  | "result_unavailable"
  | "deadline_exceeded"
  | "queue_timeout"
  | "internal";

/** Codes the API answers with (a superset of job error codes). */
export type ErrorCode =
  | JobErrorCode
  | "validation_failed"
  | "malformed_json"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "idempotency_mismatch"
  | "payload_too_large"
  | "unsupported_media_type"
  | "service_unavailable"
  | "rate_limited"
  | "quota_exceeded"
  | "budget_exceeded";

/** One field error of `validation_failed`: `path` names the field, `message` says what is wrong. */
export interface FieldError {
  path: string;
  message: string;
}

/** Body of `POST /v1/jobs`; the API's README lists every field with its default and bounds. */
export interface JobCreateInput {
  prompt: string;
  /** Default `gpt-4o-image`. */
  model?: Model | undefined;
  /** The model of the last attempt. Default: gpt-image-1 for gpt-4o-image, none (null) for gpt-image-1. */
  fallback_model?: "gpt-image-1" | null | undefined;
  /** Images, 1–4 (default 1). */
  n?: number | undefined;
  size?: ImageSize | undefined;
  quality?: ImageQuality | undefined;
  /** 1–10 (default 4). */
  max_attempts?: number | undefined;
  /** 10–3600 (default 900). */
  deadline_seconds?: number | undefined;
  /** Not started this long after creation: fails `queue_timeout`, at no cost. null: may wait until its deadline. */
  queue_timeout_seconds?: number | null | undefined;
  /** Hedged fallback: the fallback starts alongside a primary that showed no progress this long (needs a fallback and `max_attempts` of at least 2). null: no hedge. */
  hedge_after_seconds?: number | null | undefined;
  priority?: Priority | undefined;
  /** Where the job's events are sent, signed (see `verifyWebhook`). */
  webhook_url?: string | null | undefined;
  /** Default: `job.succeeded`, `job.failed`, `job.canceled`. Needs `webhook_url`. */
  webhook_events?: WebhookEventType[] | undefined;
  /** Up to 16 KiB of JSON, returned as given. */
  metadata?: Record<string, unknown> | undefined;
}

/** A failed job's (or attempt's) error. */
export interface JobErrorView {
  code: JobErrorCode;
  message: string;
  retryable: boolean;
}

/** One attempt of a job at an upstream model. */
/** What became of one attempt; `interrupted`: the worker running it stopped, and the job runs again. */
export type AttemptStatus = "running" | "succeeded" | "failed" | "canceled" | "interrupted";

/** One attempt of a job at an upstream model. */
export interface AttemptView {
  number: number;
  model: string;
  status: AttemptStatus;
  error: (JobErrorView & { class: string | null; http_status: number | null }) | null;
  upstream_request_id: string | null;
  time_to_first_byte_ms: number | null;
  last_progress: number | null;
  /** The stage the progress last showed when the attempt failed. */
  last_stage: string | null;
  /** `upstream_stalled`: how long the progress had not moved when the stream was abandoned. */
  progress_stood_ms: number | null;
  /** `circuit_open`: the primary model's circuit breaker was open, so this attempt went straight to the fallback. */
  skipped: "circuit_open" | null;
  /** Started alongside a running attempt of the same job (hedged fallback). */
  hedge: boolean;
  /** Whether this call used up one of its run's `max_attempts` (false for a 429 and for an `interrupted` call). */
  counted: boolean;
  started_at: string;
  finished_at: string | null;
}

/** One stored image of a succeeded job. */
export interface ImageView {
  index: number;
  /** A signed URL of the image. */
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
  /** The start-by of the current run; null without one. */
  queue_expires_at: string | null;
  /** As given at creation; null: no hedged fallback. */
  hedge_after_seconds: number | null;
  priority: Priority;
  progress: {
    percent: number;
    stage: ProgressStage;
    /** Queued jobs: 1 = the next of its tenant to start. Null otherwise. */
    queue_position: number | null;
    /** An estimate of the seconds until the job ends; null when unknown. */
    eta_seconds: number | null;
  };
  attempts: AttemptView[];
  /** Attempts of the current run (since creation or the last retry) that used up one of `max_attempts`; never more. */
  attempts_used: number;
  fallback_used: boolean;
  /** `cost_usd`: the estimated cost; null for jobs stored before it was recorded. */
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

/** What a `quota_exceeded` or `budget_exceeded` refusal names: the limit, how much of it is taken, and when it resets. */
export interface UsageLimitRefusal {
  /** The setting: `images_per_day` or `monthly_budget_usd`. */
  name: "images_per_day" | "monthly_budget_usd";
  /** Its value (images, or USD). */
  value: number;
  /** Taken in the current period by succeeded jobs. */
  used: number;
  /** Held by the tenant's queued and running jobs. */
  reserved: number;
  /** What the refused job would take. */
  requested: number;
  /** When the period ends and `used` starts again from 0 (ISO 8601, UTC). */
  resets_at: string;
}

/** Rows of a usage report: one per UTC day or one per model. */
export type UsageGroup = "day" | "model";

/** Figures of finished jobs (a usage row or the totals). */
export interface UsageFigures {
  jobs_succeeded: number;
  jobs_failed: number;
  /** Images stored. */
  images: number;
  /** `total_tokens` the upstream reported for the calls that produced them. */
  tokens: number;
  /** Estimated: the model's price times the images it stored. */
  cost_usd: number;
}

/** One row of a usage report: a UTC day (`YYYY-MM-DD`) or a model, with its figures. */
export type UsageRow = UsageFigures & ({ day: string } | { model: string });

/** One limit with what is taken of it; null when the tenant has none. */
export interface UsageLimitView {
  limit: number;
  used: number;
  reserved: number;
  /** What a new job may still take: `limit - used - reserved`, at least 0. */
  remaining: number;
  resets_at: string;
}

export interface UsageLimitsView {
  images_per_day: UsageLimitView | null;
  monthly_budget_usd: UsageLimitView | null;
}

/** `GET /v1/usage`. */
export interface UsageReport {
  object: "usage";
  from: string;
  to: string;
  group_by: UsageGroup;
  data: UsageRow[];
  totals: UsageFigures;
  limits: UsageLimitsView;
}

/** Statuses a job never leaves (except by an explicit retry). */
export const TERMINAL_JOB_STATUSES: readonly JobStatus[] = ["succeeded", "failed", "canceled"];

/** True when the job can never change again (except by an explicit user retry). */
export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_JOB_STATUSES.includes(status);
}
