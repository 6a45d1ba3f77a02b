import type { AdminUpstreamQuota } from "@darkroom/domain";
import type { Redis } from "ioredis";

/**
 * The upstream key's quota as the workers last saw it, shared through Redis: the workers write it
 * (one of them polls, any of them may pause generation on a quota answer), the API reads it for
 * `/admin/api/overview` (where it is `upstream_quota`), `/readyz` and `/metrics`.
 */
export type UpstreamQuotaState = AdminUpstreamQuota;

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
