import type { ErrorCode, FieldError, JobView, UsageLimitRefusal } from "./api-types.js";

/**
 * Codes a {@link DarkroomError} can carry: the API's own problem codes, plus `network_error` (no
 * answer: connection refused or reset, DNS, or the per-request timeout) and `unexpected_response`
 * (an answer that is not the API's JSON, such as a proxy's HTML page).
 */
export type DarkroomErrorCode = ErrorCode | "network_error" | "unexpected_response";

/**
 * The limit a 429 names. `rate_limited`: `{name, value}` (`rate_limit_per_minute`,
 * `max_streams_per_key` or `auth_failures_per_minute`). `quota_exceeded` (`images_per_day`) and
 * `budget_exceeded` (`monthly_budget_usd`): also what is used, reserved by queued and running jobs,
 * and requested, and when the period resets.
 */
export type DarkroomErrorLimit = { name: string; value: number } | UsageLimitRefusal;

/** Fields of a {@link DarkroomError}. */
export interface DarkroomErrorInit {
  status: number | null;
  code: DarkroomErrorCode;
  title: string;
  detail: string | null;
  requestId: string | null;
  errors?: FieldError[];
  retryAfterSeconds?: number | null;
  limit?: DarkroomErrorLimit | null;
  cause?: unknown;
}

/**
 * Thrown for every request that did not succeed: a non-2xx answer (with the fields of its RFC 9457
 * problem document) or no answer at all (`code: "network_error"`, `status: null`).
 */
export class DarkroomError extends Error {
  /** HTTP status, or null when no answer arrived. */
  readonly status: number | null;
  /** Machine-readable cause; stable across releases, unlike `title` and `detail`. */
  readonly code: DarkroomErrorCode;
  /** Short summary of the kind of problem. */
  readonly title: string;
  /** What went wrong with this request, for humans. */
  readonly detail: string | null;
  /** The `request_id` that finds this request in the server's logs. */
  readonly requestId: string | null;
  /** Field errors of `validation_failed` (`path` names the field, `message` says what is wrong). */
  readonly errors: FieldError[];
  /** Seconds the server asked the client to wait (`Retry-After`), when it did. */
  readonly retryAfterSeconds: number | null;
  /** With a 429 (`rate_limited`, `quota_exceeded`, `budget_exceeded`): the limit that refused the request. */
  readonly limit: DarkroomErrorLimit | null;

  constructor(init: DarkroomErrorInit) {
    super(init.detail ?? init.title, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "DarkroomError";
    this.status = init.status;
    this.code = init.code;
    this.title = init.title;
    this.detail = init.detail;
    this.requestId = init.requestId;
    this.errors = init.errors ?? [];
    this.retryAfterSeconds = init.retryAfterSeconds ?? null;
    this.limit = init.limit ?? null;
  }

  /**
   * True when the same request may succeed later: no answer, 429, 503 and other 5xx. Retry a
   * `createJob` only with the same `idempotencyKey`, or a lost answer can create a second job.
   */
  get retryable(): boolean {
    return this.status === null || this.status === 429 || this.status >= 500;
  }
}

/** Thrown by `waitForJob` when the job is not terminal before the timeout; `job` is its last known state. */
export class DarkroomTimeoutError extends Error {
  /** The job as last seen. */
  readonly job: JobView;
  /** The timeout that ran out. */
  readonly timeoutMs: number;

  constructor(job: JobView, timeoutMs: number) {
    super(`Job ${job.id} is still ${job.status} after ${timeoutMs} ms`);
    this.name = "DarkroomTimeoutError";
    this.job = job;
    this.timeoutMs = timeoutMs;
  }
}

/** `Retry-After` in seconds (delta-seconds or an HTTP date); null when absent or unreadable. */
export function parseRetryAfterSeconds(header: string | null, now = Date.now()): number | null {
  if (header === null || header.trim() === "") return null;
  if (/^\s*\d+\s*$/.test(header)) return Number(header);
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

function stringOr(value: unknown, fallback: string | null): string | null {
  return typeof value === "string" ? value : fallback;
}

function fieldErrors(value: unknown): FieldError[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item: unknown) => {
    if (item === null || typeof item !== "object") return [];
    const { path, message } = item as { path?: unknown; message?: unknown };
    return typeof path === "string" && typeof message === "string" ? [{ path, message }] : [];
  });
}

function problemLimit(value: unknown): DarkroomErrorLimit | null {
  if (value === null || typeof value !== "object") return null;
  const { name, value: amount } = value as { name?: unknown; value?: unknown };
  return typeof name === "string" && typeof amount === "number" ? (value as DarkroomErrorLimit) : null;
}

/** The error for a non-2xx response; reads (and so consumes) its body. */
export async function errorFromResponse(response: Response): Promise<DarkroomError> {
  const text = await response.text().catch(() => "");
  let problem: Record<string, unknown> | null = null;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
      problem = parsed as Record<string, unknown>;
    }
  } catch {
    // Not JSON (a proxy's error page, say): reported as unexpected_response below.
  }
  const headerRequestId = response.headers.get("x-request-id");
  const retryAfterSeconds = parseRetryAfterSeconds(response.headers.get("retry-after"));
  if (problem === null || typeof problem.code !== "string") {
    return new DarkroomError({
      status: response.status,
      code: "unexpected_response",
      title: `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`,
      detail: text.slice(0, 500) || null,
      requestId: headerRequestId,
      retryAfterSeconds,
    });
  }
  return new DarkroomError({
    status: response.status,
    // The server's set of codes may grow; an unknown one is passed on as is rather than hidden.
    code: problem.code as DarkroomErrorCode,
    title: stringOr(problem.title, problem.code) ?? problem.code,
    detail: stringOr(problem.detail, null),
    requestId: stringOr(problem.request_id, headerRequestId),
    errors: fieldErrors(problem.errors),
    retryAfterSeconds,
    limit: problemLimit(problem.limit),
  });
}

/** The error for a request that got no answer (refused, reset, DNS, or timed out). */
export function networkError(cause: unknown, detail: string): DarkroomError {
  return new DarkroomError({
    status: null,
    code: "network_error",
    title: "No answer from the Darkroom API",
    detail,
    requestId: null,
    cause,
  });
}
