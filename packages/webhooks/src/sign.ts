import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

const SECRET_PREFIX = "whsec_";
const SECRET_KEY_BYTES = 32;
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DEFAULT_TOLERANCE_SECONDS = 300;

/** `User-Agent` of every delivery, so receivers can recognise Darkroom in their logs. */
export const WEBHOOK_USER_AGENT = "Darkroom-Webhooks/1";

/** Why {@link verifyWebhook} refused a message. */
export type WebhookVerificationReason =
  | "missing_headers"
  | "invalid_timestamp"
  | "timestamp_too_old"
  | "timestamp_too_new"
  | "no_matching_signature";

/** Thrown by {@link verifyWebhook} when a message is not an authentic, fresh Darkroom webhook. */
export class WebhookVerificationError extends Error {
  /** Machine-readable cause; the message is the human-readable one. */
  readonly reason: WebhookVerificationReason;

  constructor(reason: WebhookVerificationReason, message: string) {
    super(message);
    this.name = "WebhookVerificationError";
    this.reason = reason;
  }
}

/** Options of {@link verifyWebhook}. */
export interface VerifyWebhookOptions {
  /** How far `webhook-timestamp` may be from now, either way. Default 300 seconds. */
  toleranceSeconds?: number;
  /** The current time in milliseconds since the epoch. Default `Date.now()`. */
  now?: number;
}

/** Headers as Node's `IncomingMessage`, Express or the Fetch API present them. */
export type WebhookHeaderSource = Record<string, string | string[] | undefined> | Headers;

/** A new tenant webhook secret: `whsec_` followed by the base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_KEY_BYTES).toString("base64");
}

function decodeSecret(secret: string): Buffer {
  if (!secret.startsWith(SECRET_PREFIX)) {
    throw new Error(`Malformed webhook secret: it must start with "${SECRET_PREFIX}"`);
  }
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (encoded.length === 0 || !STRICT_BASE64.test(encoded)) {
    throw new Error(`Malformed webhook secret: the part after "${SECRET_PREFIX}" must be non-empty base64`);
  }
  return Buffer.from(encoded, "base64");
}

function computeSignature(key: Buffer, id: string, timestampSeconds: number, body: string): string {
  return createHmac("sha256", key).update(`${id}.${timestampSeconds}.${body}`).digest("base64");
}

/**
 * The Standard Webhooks signature of one message: `v1,` + base64(HMAC-SHA256(key, `{id}.{timestamp}.{body}`)),
 * where the key is the base64-decoded part of `secret` after `whsec_`.
 *
 * @throws Error when the secret is malformed.
 */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
    throw new RangeError(`Webhook timestamp must be a non-negative integer of seconds, got ${timestampSeconds}`);
  }
  return `v1,${computeSignature(decodeSecret(secret), id, timestampSeconds, body)}`;
}

/**
 * The request headers of one delivery: Standard Webhooks `webhook-id`, `webhook-timestamp` (unix seconds of
 * `now`) and `webhook-signature`, plus `content-type` and `user-agent`. With several secrets (during a secret
 * rotation), `webhook-signature` lists one signature per secret, space-separated, in the order given.
 */
export function webhookHeaders(
  secret: string | readonly string[],
  id: string,
  body: string,
  now: number = Date.now(),
): Record<string, string> {
  const timestamp = Math.floor(now / 1000);
  const secrets = typeof secret === "string" ? [secret] : secret;
  if (secrets.length === 0) throw new Error("A webhook needs at least one secret to sign it");
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": secrets.map((s) => signWebhook(s, id, timestamp, body)).join(" "),
    "content-type": "application/json",
    "user-agent": WEBHOOK_USER_AGENT,
  };
}

function readHeader(headers: WebhookHeaderSource, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name || value === undefined) continue;
    // A repeated signature header is equivalent to one header listing every signature.
    return Array.isArray(value) ? value.join(" ") : value;
  }
  return undefined;
}

/**
 * Checks that a webhook came from Darkroom: the signature matches `body` under `secret` and the timestamp is
 * within `toleranceSeconds` of now (replay protection). Pass the raw body exactly as received, before any
 * JSON parsing. `webhook-signature` may list several space-separated signatures (during a secret rotation);
 * one valid `v1` signature is enough. Comparison is constant-time.
 *
 * @throws WebhookVerificationError when the message is missing headers, stale, or not signed with `secret`.
 * @throws Error when `secret` itself is malformed.
 */
export function verifyWebhook(
  secret: string,
  headers: WebhookHeaderSource,
  body: string,
  options: VerifyWebhookOptions = {},
): void {
  const key = decodeSecret(secret);
  const id = readHeader(headers, "webhook-id");
  const timestampHeader = readHeader(headers, "webhook-timestamp");
  const signatureHeader = readHeader(headers, "webhook-signature");
  if (!id || !timestampHeader || !signatureHeader) {
    throw new WebhookVerificationError("missing_headers", "Missing webhook-id, webhook-timestamp or webhook-signature");
  }
  if (!/^\d{1,15}$/.test(timestampHeader)) {
    throw new WebhookVerificationError("invalid_timestamp", "webhook-timestamp is not a unix time in seconds");
  }
  const timestamp = Number(timestampHeader);
  const nowSeconds = Math.floor((options.now ?? Date.now()) / 1000);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (nowSeconds - timestamp > tolerance) {
    throw new WebhookVerificationError("timestamp_too_old", "Webhook timestamp is too old");
  }
  if (timestamp - nowSeconds > tolerance) {
    throw new WebhookVerificationError("timestamp_too_new", "Webhook timestamp is too far in the future");
  }

  const expected = Buffer.from(computeSignature(key, id, timestamp, body));
  let matched = false;
  for (const entry of signatureHeader.split(" ")) {
    if (!entry.startsWith("v1,")) continue;
    const candidate = Buffer.from(entry.slice(3));
    // Every entry is compared, without an early exit, so timing does not reveal which one matched.
    if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) matched = true;
  }
  if (!matched) {
    throw new WebhookVerificationError("no_matching_signature", "No matching webhook signature");
  }
}
