import { request } from "undici";
import { joinUrl, readBodyText } from "./http-util";

/** What the upstream says about its API key's quota (`GET /api/usage/token`, new-api's token usage). */
export interface UpstreamQuota {
  /** Quota left, in the upstream's own units (new-api: 500,000 per US dollar). */
  available: number;
  /** The key has no quota limit: `available` means nothing then. */
  unlimited: boolean;
  /** When the key stops working, or null when it never expires. */
  expiresAt: Date | null;
}

/** How long one quota question may take. */
const QUOTA_TIMEOUT_MS = 10_000;

/**
 * Asks the upstream for its key's remaining quota. The answer is new-api's
 * `{code, message, data: {total_available, unlimited_quota, expires_at}}` (the fields may also come
 * at the top level); `expires_at` is seconds since the epoch, 0 or -1 for never. Throws with a
 * message naming the problem when the upstream does not answer that way.
 */
export async function fetchUpstreamQuota(
  baseUrl: string,
  apiKey: string,
  signal?: AbortSignal,
): Promise<UpstreamQuota> {
  const res = await request(joinUrl(baseUrl, "/api/usage/token"), {
    method: "GET",
    headers: { authorization: `Bearer ${apiKey}`, accept: "application/json" },
    headersTimeout: QUOTA_TIMEOUT_MS,
    bodyTimeout: QUOTA_TIMEOUT_MS,
    signal: signal ?? AbortSignal.timeout(QUOTA_TIMEOUT_MS),
  });
  const text = await readBodyText(res.body, 65_536);
  if (res.statusCode !== 200) throw new Error(`the quota endpoint answered HTTP ${res.statusCode}`);
  return parseUpstreamQuota(text);
}

/** The quota in a `/api/usage/token` body (see {@link fetchUpstreamQuota}). */
export function parseUpstreamQuota(text: string): UpstreamQuota {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error("the quota endpoint did not answer JSON");
  }
  const outer = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const data = (typeof outer.data === "object" && outer.data !== null ? outer.data : outer) as Record<string, unknown>;
  if (outer.code === false || outer.success === false) {
    throw new Error(`the quota endpoint refused: ${typeof outer.message === "string" ? outer.message : "no reason"}`);
  }
  const unlimited = data.unlimited_quota === true;
  const available = Number(data.total_available);
  if (!unlimited && !Number.isFinite(available)) throw new Error("the quota answer has no total_available");
  const expires = Number(data.expires_at ?? 0);
  return {
    available: Number.isFinite(available) ? available : 0,
    unlimited,
    expiresAt: Number.isFinite(expires) && expires > 0 ? new Date(expires * 1000) : null,
  };
}

/** True when the key can no longer be used: no quota left (and not unlimited), or expired. */
export function quotaExhausted(quota: UpstreamQuota, now = Date.now()): boolean {
  if (quota.expiresAt !== null && quota.expiresAt.getTime() <= now) return true;
  return !quota.unlimited && quota.available <= 0;
}
