import { AppError, type JobErrorCode } from "@darkroom/domain";

/**
 * Names the row of the decision table (upstream-protocol.md, section E) a failure belongs to.
 * The worker keys its retry and fallback policy on `retryable` / `fallback`; the class is for
 * logs, metrics and tests.
 */
export type UpstreamErrorClass =
  | "request_bug"
  | "content_policy"
  | "auth"
  | "quota"
  | "model_forbidden"
  | "wrong_path"
  | "payload_too_large"
  | "rate_limited"
  | "model_not_found"
  | "transient_upstream"
  | "network"
  | "mid_stream_error"
  | "stalled"
  | "progress_stalled"
  | "busy"
  | "truncated"
  | "no_image"
  | "protocol_noise"
  | "result_fetch"
  | "bad_fallback_result"
  | "canceled";

/** The data an {@link UpstreamError} is built from; classification functions return this. */
export interface UpstreamErrorInit {
  code: JobErrorCode;
  errorClass: UpstreamErrorClass;
  /**
   * Darkroom's own words, shown to tenants (job view, webhooks): never the upstream's text, which
   * goes to `detail`.
   */
  message: string;
  /** What the upstream said (error message, HTML page, image host body, stream text), for operators only. */
  detail?: string | undefined;
  /** Where the progress stood when the watchdog gave up on a stream (`progress_stalled`). */
  stall?: StallFacts | undefined;
  /** The first 2 KiB of a stream that ended with no progress marker Darkroom recognises. */
  unrecognisedStreamHead?: string | undefined;
  /** Another call to the same model can succeed. */
  retryable: boolean;
  /** Switching to the fallback model (gpt-image-1) can succeed. */
  fallback: boolean;
  httpStatus?: number | undefined;
  upstreamCode?: string | undefined;
  requestId?: string | undefined;
  retryAfterMs?: number | undefined;
  cause?: unknown;
}

/** The progress an abandoned stream last showed, and for how long it had not moved. */
export interface StallFacts {
  percent: number | null;
  stage: string;
  stoodMs: number;
}

/** Upstream text kept for operators is cut to this many characters. */
export const DETAIL_MAX_CHARS = 2048;

/** Cuts upstream text to {@link DETAIL_MAX_CHARS} for storage on the attempt. */
export function clipDetail(text: string | undefined): string | undefined {
  if (text === undefined || text === "") return undefined;
  return text.length > DETAIL_MAX_CHARS ? `${text.slice(0, DETAIL_MAX_CHARS)}…` : text;
}

/**
 * A classified upstream failure. It is an {@link AppError} (so code paths that only know
 * `AppError` still see `code` and `retryable`), narrowed to the job error codes, and adds
 * `fallback` and the transport details the worker needs for backoff and logging.
 */
export class UpstreamError extends AppError {
  declare readonly code: JobErrorCode;
  readonly errorClass: UpstreamErrorClass;
  readonly fallback: boolean;
  readonly httpStatus: number | undefined;
  readonly upstreamCode: string | undefined;
  readonly requestId: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly detail: string | undefined;
  readonly stall: StallFacts | undefined;
  readonly unrecognisedStreamHead: string | undefined;

  constructor(init: UpstreamErrorInit) {
    super(init.code, init.message, {
      retryable: init.retryable,
      cause: init.cause,
      context: {
        error_class: init.errorClass,
        fallback: init.fallback,
        http_status: init.httpStatus,
        upstream_code: init.upstreamCode,
        request_id: init.requestId,
      },
    });
    this.name = "UpstreamError";
    this.errorClass = init.errorClass;
    this.fallback = init.fallback;
    this.httpStatus = init.httpStatus;
    this.upstreamCode = init.upstreamCode;
    this.requestId = init.requestId;
    this.retryAfterMs = init.retryAfterMs;
    this.detail = clipDetail(init.detail);
    this.stall = init.stall;
    this.unrecognisedStreamHead = init.unrecognisedStreamHead;
  }
}

/** Type guard for {@link UpstreamError}. */
export function isUpstreamError(value: unknown): value is UpstreamError {
  return value instanceof UpstreamError;
}
