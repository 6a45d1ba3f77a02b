import type { Redis } from "ioredis";

/**
 * The upstream key's quota as the workers last saw it, shared through Redis: the workers write it
 * (one of them polls, any of them may pause generation on a quota answer), the API reads it for
 * `/admin/api/overview`, `/readyz` and `/metrics`.
 */
export interface UpstreamQuotaState {
  /** `ok`; `low` (below UPSTREAM_QUOTA_WARN); `exhausted`; `unknown` (the upstream did not say). */
  status: "ok" | "low" | "exhausted" | "unknown";
  available: number | null;
  unlimited: boolean;
  expires_at: string | null;
  /** The last poll, answered or not. */
  checked_at: string | null;
  /** Why the last poll did not tell (the upstream's endpoint failed), or null. */
  error: string | null;
  /** Generation is paused (the BullMQ generation queue, for every worker). */
  paused: boolean;
  paused_at: string | null;
  /** Why generation is paused: `quota exhausted (poll)` or the upstream's quota answer. */
  reason: string | null;
}

export function upstreamQuotaKey(prefix: string): string {
  return `${prefix}:upstream-quota`;
}

/** The lock that makes one worker poll at a time. */
export function upstreamQuotaPollLock(prefix: string): string {
  return `${prefix}:upstream-quota:poll`;
}

/** The shared state, or null when no worker has written it (the guard is off or never ran). */
export async function readUpstreamQuota(redis: Redis, prefix: string): Promise<UpstreamQuotaState | null> {
  const raw = await redis.get(upstreamQuotaKey(prefix));
  if (raw === null) return null;
  try {
    return JSON.parse(raw) as UpstreamQuotaState;
  } catch {
    return null;
  }
}

export async function writeUpstreamQuota(redis: Redis, prefix: string, state: UpstreamQuotaState): Promise<void> {
  await redis.set(upstreamQuotaKey(prefix), JSON.stringify(state));
}
