import type { UpstreamErrorInit } from "./upstream-error";

/** The parsed `{"error":{message,type,code}}` envelope of OpenAI, one-api, new-api and CometAPI. */
export interface ErrorEnvelope {
  message: string;
  type: string | undefined;
  code: string | undefined;
}

/** What {@link classifyHttpError} needs to know about a non-success response. */
export interface HttpErrorInput {
  status: number;
  /** Lower-case header names; multi-valued headers may be arrays. */
  headers: Record<string, string | string[] | undefined>;
  /** The body text (possibly cut short); empty when none was read. */
  body: string;
  /** Model that was called, so a message naming it can allow a fallback. */
  model?: string | undefined;
  /** Milliseconds since the epoch, for HTTP-date `Retry-After`. Defaults to `Date.now()`. */
  now?: number | undefined;
}

const REQUEST_ID_IN_TEXT = /\(request id: ([^)\s]+)\)/i;
const POLICY_CODES = new Set([
  "moderation_blocked",
  "content_policy_violation",
  "content_filter",
  "prompt_blocked",
  "sensitive_words_detected",
]);
const QUOTA_CODES = new Set(["insufficient_user_quota", "pre_consume_token_quota_failed", "insufficient_quota"]);
const POLICY_MESSAGE =
  /safety system|content polic|content_policy|moderation|violat(?:e|es|ion|ing)\b.*polic|内容政策|违反|违规|敏感词|安全(?:策略|系统|政策)/i;
const QUOTA_MESSAGE = /exceeded your current quota|insufficient[_ ](?:user[_ ])?quota|额度不足|余额不足/i;
const NO_CHANNEL_MESSAGE = /无可用渠道|no available channel/i;

function header(headers: HttpErrorInput["headers"], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Pulls the `(request id: X)` suffix one-api/new-api/CometAPI append to messages. */
export function extractRequestId(text: string): string | undefined {
  return REQUEST_ID_IN_TEXT.exec(text)?.[1];
}

function stringField(value: unknown): string | undefined {
  if (typeof value === "string") return value === "" ? undefined : value;
  if (typeof value === "number") return String(value);
  return undefined;
}

/**
 * Reads an error object in any of the shapes seen upstream: the `{"error":{…}}` envelope,
 * `{"error":"text"}`, and vLLM's `{"object":"error","message":…}`. Returns null for anything else.
 */
export function readErrorObject(value: unknown): ErrorEnvelope | null {
  if (typeof value !== "object" || value === null) return null;
  const record = value as Record<string, unknown>;
  const inner = record.error;
  if (typeof inner === "string" && inner !== "") return { message: inner, type: undefined, code: undefined };
  if (typeof inner === "object" && inner !== null) {
    const error = inner as Record<string, unknown>;
    return {
      message: stringField(error.message) ?? "upstream error",
      type: stringField(error.type),
      code: stringField(error.code),
    };
  }
  if (record.object === "error") {
    return {
      message: stringField(record.message) ?? "upstream error",
      type: stringField(record.type),
      code: stringField(record.code),
    };
  }
  return null;
}

/** Parses a body as an error envelope; null when it is not JSON or not an error. */
export function parseErrorEnvelope(body: string): ErrorEnvelope | null {
  try {
    return readErrorObject(JSON.parse(body));
  } catch {
    return null;
  }
}

/**
 * Delay the upstream asked for: `retry-after-ms` (float milliseconds) wins over `retry-after`
 * (seconds or an HTTP date). Negative or unparsable values are ignored; capping is the caller's policy.
 */
export function parseRetryAfter(
  headers: Record<string, string | string[] | undefined>,
  now: number = Date.now(),
): number | undefined {
  const ms = header(headers, "retry-after-ms");
  if (ms !== undefined && ms.trim() !== "") {
    const value = Number(ms);
    if (Number.isFinite(value) && value >= 0) return Math.round(value);
  }
  const after = header(headers, "retry-after");
  if (after === undefined || after.trim() === "") return undefined;
  const seconds = Number(after);
  if (Number.isFinite(seconds)) return seconds >= 0 ? Math.round(seconds * 1000) : undefined;
  const date = Date.parse(after);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** True when free text (an error message or assistant content) reads like a content-policy refusal. */
export function isPolicyText(text: string): boolean {
  return POLICY_MESSAGE.test(text);
}

function looksLikeHtml(body: string, contentType: string | undefined): boolean {
  if (contentType?.includes("text/html")) return true;
  return /^\s*<(?:!doctype|html|head|body)/i.test(body);
}

/**
 * Darkroom's own words for each kind of upstream failure: tenants see these, never the upstream's
 * text (which names keys, quotas, relays and hosts they have nothing to do with).
 */
const MESSAGES = {
  contentPolicy: "The upstream refused the request under its content policy.",
  quota: "The upstream account has no quota left for this request.",
  noChannel: "The upstream has no capacity for this model right now.",
  rateLimited: "The upstream is limiting the rate of requests.",
  upstreamError: "The upstream reported an error.",
} as const;

/** One classification: the facts every branch shares, plus its own message, code and policy. */
function outcome<T extends Partial<UpstreamErrorInit>>(
  base: T,
  message: string,
  code: UpstreamErrorInit["code"],
  errorClass: UpstreamErrorInit["errorClass"],
  retryable: boolean,
  fallback: boolean,
): T & UpstreamErrorInit {
  return { ...base, message, code, errorClass, retryable, fallback };
}

/** The envelope as operators want to read it: the message, with its code and type when present. */
function envelopeDetail(envelope: ErrorEnvelope): string {
  const tags = [envelope.type, envelope.code].filter((v) => v !== undefined).join("/");
  return tags === "" ? envelope.message : `${envelope.message} [${tags}]`;
}

/**
 * Classifies an error carried by an envelope when the HTTP status says nothing useful:
 * a 200 with a JSON error body (legacy one-api) or an error event inside the stream.
 */
export function classifyErrorBody(
  envelope: ErrorEnvelope,
  base: Pick<UpstreamErrorInit, "httpStatus" | "requestId">,
  inStream: boolean,
): UpstreamErrorInit {
  const code = envelope.code;
  const common = {
    ...base,
    upstreamCode: code,
    requestId: base.requestId ?? extractRequestId(envelope.message),
    detail: envelopeDetail(envelope),
  };
  if ((code !== undefined && POLICY_CODES.has(code)) || isPolicyText(envelope.message)) {
    return outcome(common, MESSAGES.contentPolicy, "content_policy", "content_policy", false, false);
  }
  if ((code !== undefined && QUOTA_CODES.has(code)) || QUOTA_MESSAGE.test(envelope.message)) {
    return outcome(common, MESSAGES.quota, "upstream_quota", "quota", false, false);
  }
  if (code === "model_not_found" || NO_CHANNEL_MESSAGE.test(envelope.message)) {
    return outcome(common, MESSAGES.noChannel, "upstream_unavailable", "model_not_found", false, true);
  }
  if (code === "rate_limit_exceeded") {
    return outcome(common, MESSAGES.rateLimited, "upstream_rate_limited", "rate_limited", true, true);
  }
  // After a 200 the call may already be billed, so the worker retries it at most once (row 12).
  return inStream
    ? outcome(
        common,
        "The upstream reported an error in the middle of the stream.",
        "upstream_error",
        "mid_stream_error",
        true,
        true,
      )
    : outcome(common, MESSAGES.upstreamError, "upstream_error", "transient_upstream", true, true);
}

/**
 * Classifies a non-success HTTP answer received before any stream data (rows 1–10 of section E).
 * 3xx answers are included: redirects are never followed, so they mean a wrong base URL.
 */
export function classifyHttpError(input: HttpErrorInput): UpstreamErrorInit {
  const { status, headers, body } = input;
  const contentType = header(headers, "content-type")?.toLowerCase();
  const envelope = parseErrorEnvelope(body);
  const html = envelope === null && looksLikeHtml(body, contentType);
  const raw = envelope?.message ?? body;
  const upstreamCode = envelope?.code;
  const shouldRetry = header(headers, "x-should-retry");
  const base = {
    httpStatus: status,
    upstreamCode,
    message: `The upstream answered HTTP ${status}.`,
    detail: envelope === null ? (body === "" ? undefined : body) : envelopeDetail(envelope),
    requestId: header(headers, "x-request-id") ?? extractRequestId(raw),
    retryAfterMs: parseRetryAfter(headers, input.now),
  };
  const codeIs = (set: Set<string>): boolean => upstreamCode !== undefined && set.has(upstreamCode);
  const wrongPath = {
    ...base,
    message: `The upstream answered HTTP ${status}${html ? " with an HTML page" : ""}: Darkroom's upstream base URL or path looks wrong.`,
    code: "upstream_error" as const,
    errorClass: "wrong_path" as const,
    retryable: false,
    fallback: false,
  };

  if (status >= 200 && status < 300) {
    if (envelope !== null) return classifyErrorBody(envelope, base, false);
    if (html) return wrongPath;
    return outcome(
      base,
      "The upstream answered with a body Darkroom could not read.",
      "upstream_error",
      "transient_upstream",
      true,
      true,
    );
  }
  if (status >= 300 && status < 400) {
    const location = header(headers, "location");
    return {
      ...wrongPath,
      message: `The upstream redirected the request (HTTP ${status}): Darkroom's upstream base URL looks wrong.`,
      detail: location === undefined ? base.detail : `redirect to ${location}`,
    };
  }
  if (status === 400 || status === 403 || status === 429 || status === 422) {
    if (codeIs(POLICY_CODES) || (status !== 429 && isPolicyText(raw))) {
      return outcome(base, MESSAGES.contentPolicy, "content_policy", "content_policy", false, false);
    }
  }
  if (status === 401) {
    return outcome(
      base,
      "The upstream rejected Darkroom's credentials (HTTP 401).",
      "upstream_auth",
      "auth",
      false,
      false,
    );
  }
  if ((status === 403 || status === 429) && (codeIs(QUOTA_CODES) || QUOTA_MESSAGE.test(raw))) {
    return outcome(base, MESSAGES.quota, "upstream_quota", "quota", false, false);
  }
  if (status === 403) {
    // Access to this model (or this key's group) is denied; another model may be allowed.
    return outcome(
      base,
      "The upstream does not allow this model for Darkroom's credentials (HTTP 403).",
      "upstream_auth",
      "model_forbidden",
      false,
      true,
    );
  }
  if (status === 404 || (html && status < 500)) return wrongPath;
  if (status === 413) {
    return outcome(
      base,
      "The upstream refused the request as too large (HTTP 413).",
      "bad_request",
      "payload_too_large",
      false,
      false,
    );
  }
  if (status === 429) {
    return outcome(base, MESSAGES.rateLimited, "upstream_rate_limited", "rate_limited", true, true);
  }
  if (status === 503 && (upstreamCode === "model_not_found" || NO_CHANNEL_MESSAGE.test(raw))) {
    return outcome(base, MESSAGES.noChannel, "upstream_unavailable", "model_not_found", false, true);
  }
  if (status === 500 && upstreamCode === "invalid_request") return requestBug(base, raw, input.model);
  if (status >= 500 || status === 408 || status === 409 || shouldRetry === "true") {
    return outcome(
      base,
      html ? `The upstream answered HTTP ${status} with an error page.` : base.message,
      "upstream_error",
      "transient_upstream",
      shouldRetry !== "false",
      true,
    );
  }
  return requestBug(base, raw, input.model);
}

function requestBug(
  base: Omit<UpstreamErrorInit, "code" | "errorClass" | "retryable" | "fallback">,
  raw: string,
  model?: string,
) {
  // Row 1: a request bug is final, unless the message blames the model or a parameter only this
  // model's request carries; the fallback builds a different request, so it may pass.
  const text = raw.toLowerCase();
  const namesModel =
    (model !== undefined && text.includes(model.toLowerCase())) ||
    /\bmodel\b|unknown parameter|unsupported parameter|unrecognized request argument|stream_options/.test(text);
  return {
    ...base,
    message: `The upstream refused the request as invalid (HTTP ${base.httpStatus ?? "?"}).`,
    code: "bad_request" as const,
    errorClass: "request_bug" as const,
    retryable: false,
    fallback: namesModel,
  };
}

/** Error codes Node and undici attach to connection-level failures. */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_CLOSED",
]);

/** The `code` of an error or of its chain of causes (undici wraps socket errors). */
export function errorCodeOf(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && code !== "") return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** True when an error is a connection, DNS, TLS or socket failure rather than a bug. */
export function isNetworkError(error: unknown): boolean {
  const code = errorCodeOf(error);
  if (code !== undefined && (NETWORK_CODES.has(code) || code.startsWith("ERR_TLS") || code.startsWith("ERR_SSL"))) {
    return true;
  }
  return error instanceof TypeError && /fetch failed|terminated|other side closed/i.test(error.message);
}

/**
 * Row 11: a failure before any response byte. Timeouts map to `upstream_timeout`, everything
 * else to `upstream_unavailable`; both are retryable and allow the fallback.
 */
export function classifyNetworkError(error: unknown, timedOut: boolean): UpstreamErrorInit {
  const code = errorCodeOf(error);
  const timeout =
    timedOut || code === "UND_ERR_CONNECT_TIMEOUT" || code === "UND_ERR_HEADERS_TIMEOUT" || code === "ETIMEDOUT";
  const detail = error instanceof Error ? error.message : String(error);
  return {
    code: timeout ? "upstream_timeout" : "upstream_unavailable",
    errorClass: "network",
    message: timeout
      ? "The upstream did not answer in time."
      : `The connection to the upstream failed${code === undefined ? "" : ` (${code})`}.`,
    detail,
    retryable: true,
    fallback: true,
    cause: error,
  };
}
