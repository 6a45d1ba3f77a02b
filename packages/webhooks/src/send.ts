import { type Dispatcher, request } from "undici";
import { webhookHeaders } from "./sign";
import { BlockedAddressError } from "./ssrf";

/** How much of a receiver's response body is kept (design: first 1 KiB). */
export const RESPONSE_BODY_LIMIT_BYTES = 1024;

/** Upper bound on a receiver's `Retry-After`, so one response cannot park a delivery for weeks. */
export const MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1000;

/** Input of {@link sendWebhook}. */
export interface SendWebhookInput {
  url: string;
  /** The tenant's `whsec_…` secret, or its current and previous ones during a rotation (one signature each). */
  secret: string | readonly string[];
  /** `webhook-id`: the event id, the same on every attempt so receivers can de-duplicate. */
  eventId: string;
  /** The JSON body, sent and signed byte for byte. */
  body: string;
  /** Bound on the whole attempt: connect, headers and body (design: 10 000). */
  timeoutMs: number;
  /** Normally from `createGuardedDispatcher`, which refuses private addresses. */
  dispatcher: Dispatcher;
  /** Milliseconds since the epoch, for `webhook-timestamp`; default `Date.now()`. */
  now?: number;
}

/** Outcome of one delivery attempt, shaped for a `WebhookDelivery` row. */
export interface DeliveryResult {
  /** The receiver answered 2xx. */
  ok: boolean;
  /** The HTTP status, or null when no response arrived. */
  status: number | null;
  /** The first 1024 bytes of the response body as UTF-8 (lossy). */
  responseBody: string;
  durationMs: number;
  /** Why the attempt failed, for people; null on success. */
  error: string | null;
  /** The receiver's `Retry-After` on a non-2xx response, in milliseconds. */
  retryAfterMs: number | null;
  /** 410 Gone: the receiver asks us to stop delivering to this URL. */
  gone: boolean;
}

/**
 * Makes one signed delivery attempt: POST `body` with Standard Webhooks headers. Redirects are not followed
 * and count as failures, as does anything but a 2xx. Network failures, timeouts and blocked addresses are
 * reported in the result, never thrown.
 *
 * @throws Error for programmer errors only: a malformed secret or URL, a non-positive timeout.
 */
export async function sendWebhook(input: SendWebhookInput): Promise<DeliveryResult> {
  if (!Number.isFinite(input.timeoutMs) || input.timeoutMs <= 0) {
    throw new RangeError(`timeoutMs must be a positive number, got ${input.timeoutMs}`);
  }
  const url = new URL(input.url);
  const now = input.now ?? Date.now();
  const headers = webhookHeaders(input.secret, input.eventId, input.body, now);

  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  const controller = new AbortController();
  // One deadline for the whole attempt: undici's own timeouts each restart per phase, so a receiver that
  // trickles bytes could otherwise hold a worker far longer than timeoutMs.
  const timer = setTimeout(() => controller.abort(), input.timeoutMs);
  let status: number | null = null;
  try {
    const response = await request(url, {
      method: "POST",
      headers,
      body: input.body,
      dispatcher: input.dispatcher,
      signal: controller.signal,
    });
    status = response.statusCode;
    const responseBody = await readPrefix(response.body, RESPONSE_BODY_LIMIT_BYTES);
    const ok = status >= 200 && status < 300;
    let error: string | null = null;
    if (status >= 300 && status < 400) {
      const location = headerValue(response.headers.location);
      error = location === undefined ? `redirect (${status}) not followed` : `redirect to ${location} not followed`;
    } else if (!ok) {
      error = `receiver answered HTTP ${status}`;
    }
    return {
      ok,
      status,
      responseBody,
      durationMs: elapsed(),
      error,
      retryAfterMs: ok ? null : parseRetryAfter(headerValue(response.headers["retry-after"])),
      gone: status === 410,
    };
  } catch (cause) {
    const error = controller.signal.aborted ? `timed out after ${input.timeoutMs} ms` : describeNetworkError(cause);
    // A status already received (the body then timed out or broke) is still worth recording.
    return {
      ok: false,
      status,
      responseBody: "",
      durationMs: elapsed(),
      error,
      retryAfterMs: null,
      gone: status === 410,
    };
  } finally {
    clearTimeout(timer);
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Reads at most `limit` bytes, then drops the rest of the body without waiting for it. */
async function readPrefix(body: Dispatcher.ResponseData["body"], limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Destroying the body early makes undici emit an error nobody else listens for.
  body.on("error", () => {});
  for await (const chunk of body) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    chunks.push(buffer);
    size += buffer.length;
    if (size >= limit) break;
  }
  body.destroy();
  const prefix = Buffer.concat(chunks).subarray(0, limit);
  // stream: true drops a character cut at the limit instead of ending on U+FFFD; NUL is replaced because
  // Postgres text columns cannot store it.
  return new TextDecoder("utf-8").decode(prefix, { stream: true }).replaceAll("\u0000", "\uFFFD");
}

/** `Retry-After` as delay-seconds or an HTTP date, in milliseconds from `now`; null when absent or invalid. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | null {
  if (value === undefined) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Math.min(Number(trimmed) * 1000, MAX_RETRY_AFTER_MS);
  // HTTP dates always name a weekday or month; Date.parse would otherwise take "-5" as a year.
  if (!/[a-z]/i.test(trimmed)) return null;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return null;
  return Math.min(Math.max(date - now, 0), MAX_RETRY_AFTER_MS);
}

const NETWORK_ERROR_TEXT: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EPIPE: "connection reset",
  ENOTFOUND: "host does not resolve",
  EAI_AGAIN: "host does not resolve (temporary DNS failure)",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "timed out connecting",
  UND_ERR_CONNECT_TIMEOUT: "timed out connecting",
  UND_ERR_HEADERS_TIMEOUT: "timed out waiting for the response",
  UND_ERR_BODY_TIMEOUT: "timed out reading the response",
  UND_ERR_SOCKET: "connection closed by the receiver",
};

/** Yields the error and its chain of causes; undici wraps socket errors. */
function* causeChain(error: unknown): Generator<unknown> {
  let current = error;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    yield current;
    current = current instanceof Error ? current.cause : undefined;
  }
}

function describeNetworkError(error: unknown): string {
  for (const link of causeChain(error)) {
    if (link instanceof BlockedAddressError) return `blocked: ${link.detail}`;
  }
  for (const link of causeChain(error)) {
    const code = typeof link === "object" && link !== null && "code" in link ? link.code : undefined;
    if (typeof code !== "string") continue;
    const text = NETWORK_ERROR_TEXT[code];
    if (text !== undefined) return text;
    if (code.startsWith("ERR_TLS") || code.startsWith("CERT_") || code.includes("SSL")) {
      return `TLS error: ${link instanceof Error ? link.message : code}`;
    }
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * The delay before the next attempt after attempt `attemptNumber` (1-based) failed, or null when the schedule
 * is exhausted: attempt n waits `schedule[n - 1]`. A larger `Retry-After` from the receiver wins, capped at
 * 24 hours. A 410 is the caller's business (stop, whatever this says).
 */
export function nextRetryDelayMs(
  schedule: readonly number[],
  attemptNumber: number,
  retryAfterMs: number | null,
): number | null {
  if (!Number.isInteger(attemptNumber) || attemptNumber < 1) {
    throw new RangeError(`attemptNumber must be an integer >= 1, got ${attemptNumber}`);
  }
  const delay = schedule[attemptNumber - 1];
  if (delay === undefined) return null;
  if (retryAfterMs === null) return delay;
  return Math.max(delay, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
}
