/** The closed set of error codes a failed job or an API error can carry. */
export const JOB_ERROR_CODES = [
  "bad_request",
  "content_policy",
  "upstream_auth",
  "upstream_quota",
  "upstream_unavailable",
  "upstream_rate_limited",
  "upstream_error",
  "upstream_timeout",
  "upstream_stalled",
  "upstream_busy",
  "stream_truncated",
  "no_image",
  "result_unavailable",
  "deadline_exceeded",
  "queue_timeout",
  "internal",
] as const;
export type JobErrorCode = (typeof JOB_ERROR_CODES)[number];

/** Codes the API answers with (a superset of job error codes). */
export const API_ERROR_CODES = [
  ...JOB_ERROR_CODES,
  "validation_failed",
  "malformed_json",
  "unauthorized",
  "forbidden",
  "not_found",
  "conflict",
  "idempotency_mismatch",
  "payload_too_large",
  "unsupported_media_type",
  "service_unavailable",
  "rate_limited",
  "quota_exceeded",
  "budget_exceeded",
] as const;
export type ErrorCode = (typeof API_ERROR_CODES)[number];

export interface FieldError {
  path: string;
  message: string;
}

export interface AppErrorOptions {
  retryable?: boolean;
  context?: Record<string, unknown>;
  cause?: unknown;
  errors?: FieldError[];
}

/**
 * The one error type that crosses package boundaries. `retryable` tells the worker whether
 * another attempt can succeed; the API maps `code` to an HTTP status in one place.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly context: Record<string, unknown>;
  readonly errors: FieldError[] | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AppError";
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.context = options.context ?? {};
    this.errors = options.errors;
  }
}

/**
 * A `rate_limited` refusal: the problem answer carries `Retry-After` and names the limit that was
 * reached (`limit.name` is the setting, `limit.value` its value). Every limit builds it here, so the
 * answer has one shape.
 */
export function rateLimitedError(
  message: string,
  refusal: { retryAfterSeconds: number; limit: { name: string; value: number } },
): AppError {
  return new AppError("rate_limited", message, { context: refusal });
}

/** What a `quota_exceeded` or `budget_exceeded` refusal names: the limit, how much of it is taken, and when it resets. */
export interface UsageLimitRefusal {
  /** The setting: `images_per_day` or `monthly_budget_usd`. */
  name: "images_per_day" | "monthly_budget_usd";
  /** Its value (images, or USD). */
  value: number;
  /** Taken in the current period by succeeded jobs (images stored, or their estimated cost). */
  used: number;
  /** Held by the tenant's queued and running jobs (their `n`, or their worst-case cost). */
  reserved: number;
  /** What the refused job would take (its `n`, or its worst-case cost). */
  requested: number;
  /** When the period ends and `used` starts again from 0 (ISO 8601, UTC). */
  resets_at: string;
}

/**
 * A `quota_exceeded` (images per day) or `budget_exceeded` (monthly budget) refusal: the problem
 * answer carries `Retry-After` (seconds until the period resets) and `limit` naming the limit.
 */
export function usageLimitError(
  code: "quota_exceeded" | "budget_exceeded",
  message: string,
  refusal: { retryAfterSeconds: number; limit: UsageLimitRefusal },
): AppError {
  return new AppError(code, message, { context: refusal });
}

/** True when `value` is one of the closed job error codes. */
export function isJobErrorCode(value: unknown): value is JobErrorCode {
  return typeof value === "string" && (JOB_ERROR_CODES as readonly string[]).includes(value);
}
