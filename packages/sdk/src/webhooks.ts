import * as signing from "@darkroom/webhooks";

// The server signs with @darkroom/webhooks and receivers verify with the same code (the build bundles
// it in). The types are written out here, so the published declarations need no server package; the
// annotations below make the type check prove that they fit the server's.

/** Why {@link verifyWebhook} refused a message. */
export type WebhookVerificationReason =
  | "missing_headers"
  | "invalid_timestamp"
  | "timestamp_too_old"
  | "timestamp_too_new"
  | "no_matching_signature";

/** Options of {@link verifyWebhook}. */
export interface VerifyWebhookOptions {
  /** How far `webhook-timestamp` may be from now, either way. Default 300 seconds. */
  toleranceSeconds?: number;
  /** The current time in milliseconds since the epoch. Default `Date.now()`. */
  now?: number;
}

/** Headers as Node's `IncomingMessage`, Express or the Fetch API present them. */
export type WebhookHeaderSource = Record<string, string | string[] | undefined> | Headers;

/** Thrown by {@link verifyWebhook} when a message is not an authentic, fresh Darkroom webhook. */
export interface WebhookVerificationError extends Error {
  /** Machine-readable cause; the message is the human-readable one. */
  readonly reason: WebhookVerificationReason;
}

/** The class of the errors {@link verifyWebhook} throws (`error instanceof WebhookVerificationError`). */
export const WebhookVerificationError: new (
  reason: WebhookVerificationReason,
  message: string,
) => WebhookVerificationError = signing.WebhookVerificationError;

/**
 * Checks that a webhook came from Darkroom (Standard Webhooks): the signature matches `body` under
 * `secret` (the tenant's `whsec_…`) and the timestamp is within `toleranceSeconds` of now (replay
 * protection). Pass the raw body exactly as received, before any JSON parsing. Comparison is
 * constant-time; one valid signature of several (a secret rotation) is enough.
 *
 * @throws WebhookVerificationError when the message is missing headers, stale, or not signed with `secret`.
 * @throws Error when `secret` itself is malformed.
 */
export const verifyWebhook: (
  secret: string,
  headers: WebhookHeaderSource,
  body: string,
  options?: VerifyWebhookOptions,
) => void = signing.verifyWebhook;
