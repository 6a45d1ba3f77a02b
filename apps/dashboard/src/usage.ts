import type { LimitUse } from "./types";

/**
 * How much of a limit's bar is used and how much reserved, in percent of the limit: the used part
 * first and the reserved part after it, together never past 100 (a limit can be lowered below what
 * is already taken). A limit of 0 with anything taken is a full bar.
 */
export function limitShares({ limit, used, reserved }: Pick<LimitUse, "limit" | "used" | "reserved">): {
  used: number;
  reserved: number;
} {
  if (limit <= 0) return used > 0 ? { used: 100, reserved: 0 } : { used: 0, reserved: reserved > 0 ? 100 : 0 };
  const usedShare = Math.min(100, (used / limit) * 100);
  return { used: usedShare, reserved: Math.min(100 - usedShare, (reserved / limit) * 100) };
}
