import { describe, expect, it } from "vitest";
import { parseUpstreamQuota, quotaExhausted } from "./quota";

describe("parseUpstreamQuota", () => {
  it("reads new-api's token usage, inside `data` or at the top level", () => {
    const wrapped = {
      code: true,
      message: "ok",
      data: { total_available: 1234, unlimited_quota: false, expires_at: 0 },
    };
    expect(parseUpstreamQuota(JSON.stringify(wrapped))).toEqual({ available: 1234, unlimited: false, expiresAt: null });
    expect(
      parseUpstreamQuota(JSON.stringify({ total_available: 5, unlimited_quota: true, expires_at: 1_900_000_000 })),
    ).toEqual({
      available: 5,
      unlimited: true,
      expiresAt: new Date(1_900_000_000_000),
    });
  });

  it("names what is wrong with an answer it cannot use", () => {
    expect(() => parseUpstreamQuota("<html>")).toThrow(/did not answer JSON/);
    expect(() => parseUpstreamQuota(JSON.stringify({ code: false, message: "无效的令牌" }))).toThrow(
      /refused: 无效的令牌/,
    );
    expect(() => parseUpstreamQuota(JSON.stringify({ data: { unlimited_quota: false } }))).toThrow(
      /no total_available/,
    );
  });
});

describe("quotaExhausted", () => {
  const now = Date.parse("2026-12-04T12:00:00Z");
  it("is true with nothing left, or an expired key; never for an unlimited key that has not expired", () => {
    expect(quotaExhausted({ available: 0, unlimited: false, expiresAt: null }, now)).toBe(true);
    expect(quotaExhausted({ available: -3, unlimited: false, expiresAt: null }, now)).toBe(true);
    expect(quotaExhausted({ available: 1, unlimited: false, expiresAt: null }, now)).toBe(false);
    expect(quotaExhausted({ available: 0, unlimited: true, expiresAt: null }, now)).toBe(false);
    expect(quotaExhausted({ available: 0, unlimited: true, expiresAt: new Date(now - 1) }, now)).toBe(true);
    expect(quotaExhausted({ available: 9, unlimited: false, expiresAt: new Date(now + 60_000) }, now)).toBe(false);
  });
});
