import { describe, expect, it } from "vitest";
import { nextRetryDelayMs, parseRetryAfter } from "./send";

describe("nextRetryDelayMs", () => {
  const schedule = [5_000, 300_000, 1_800_000];

  it("uses schedule[n - 1] after attempt n and stops when the schedule is exhausted", () => {
    expect(nextRetryDelayMs(schedule, 1, null)).toBe(5_000);
    expect(nextRetryDelayMs(schedule, 3, null)).toBe(1_800_000);
    expect(nextRetryDelayMs(schedule, 4, null)).toBeNull();
  });

  it("lets a longer Retry-After win, capped at 24 hours, and ignores a shorter one", () => {
    expect(nextRetryDelayMs(schedule, 1, 60_000)).toBe(60_000);
    expect(nextRetryDelayMs(schedule, 2, 1_000)).toBe(300_000);
    expect(nextRetryDelayMs(schedule, 1, 7 * 24 * 3_600_000)).toBe(24 * 3_600_000);
    expect(nextRetryDelayMs(schedule, 4, 60_000)).toBeNull();
  });

  it("rejects attempt numbers below 1", () => {
    expect(() => nextRetryDelayMs(schedule, 0, null)).toThrow(RangeError);
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2025-06-01T12:00:00Z");

  it("reads delay-seconds and HTTP dates", () => {
    expect(parseRetryAfter("7", now)).toBe(7_000);
    expect(parseRetryAfter(" 0 ", now)).toBe(0);
    expect(parseRetryAfter("Sun, 01 Jun 2025 12:02:00 GMT", now)).toBe(120_000);
    expect(parseRetryAfter("Sun, 01 Jun 2025 11:00:00 GMT", now)).toBe(0);
  });

  it("ignores absent or invalid values and caps huge ones at 24 hours", () => {
    expect(parseRetryAfter(undefined, now)).toBeNull();
    expect(parseRetryAfter("soon", now)).toBeNull();
    expect(parseRetryAfter("-5", now)).toBeNull();
    expect(parseRetryAfter("99999999", now)).toBe(24 * 3_600_000);
  });
});
