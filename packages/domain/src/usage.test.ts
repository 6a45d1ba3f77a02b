import { describe, expect, it } from "vitest";
import { AppError } from "./errors";
import {
  dayPeriod,
  imagesCostMicroUsd,
  monthPeriod,
  resolveUsageRange,
  UsageQuerySchema,
  usageLimitRefusal,
  worstCaseMicroUsd,
} from "./usage";

const PRICES = { "gpt-4o-image": 0.04, "gpt-image-1": 0.042 };
const none = { imagesUsed: 0, imagesReserved: 0, costUsedMicros: 0, costReservedMicros: 0 };

describe("periods", () => {
  it("images_per_day resets at the next 00:00 UTC; the budget at the first instant of the next UTC month", () => {
    const now = new Date("2026-12-31T23:59:59.500Z");
    expect(dayPeriod(now)).toEqual({
      start: new Date("2026-12-31T00:00:00Z"),
      resetsAt: new Date("2027-01-01T00:00:00Z"),
    });
    expect(monthPeriod(now)).toEqual({
      start: new Date("2026-12-01T00:00:00Z"),
      resetsAt: new Date("2027-01-01T00:00:00Z"),
    });
    expect(monthPeriod(new Date("2028-02-29T12:00:00Z")).resetsAt).toEqual(new Date("2028-03-01T00:00:00Z"));
  });
});

describe("costs", () => {
  it("prices images exactly, and a job's worst case is n times the higher price of model and fallback", () => {
    expect(imagesCostMicroUsd(PRICES, "gpt-image-1", 3)).toBe(126_000);
    expect(worstCaseMicroUsd(PRICES, { n: 3, model: "gpt-4o-image", fallbackModel: "gpt-image-1" })).toBe(126_000);
    expect(worstCaseMicroUsd(PRICES, { n: 3, model: "gpt-4o-image", fallbackModel: null })).toBe(120_000);
    expect(
      worstCaseMicroUsd(
        { "gpt-4o-image": 0.05, "gpt-image-1": 0.01 },
        { n: 2, model: "gpt-4o-image", fallbackModel: "gpt-image-1" },
      ),
    ).toBe(100_000);
  });

  it("reserves both prices for a hedged job, whose aborted call may be billed too", () => {
    const job = { n: 2, model: "gpt-4o-image", fallbackModel: "gpt-image-1" };
    expect(worstCaseMicroUsd(PRICES, { ...job, hedgeAfterSeconds: 30 })).toBe(164_000);
    expect(worstCaseMicroUsd(PRICES, { ...job, hedgeAfterSeconds: null })).toBe(84_000);
  });
});

describe("usageLimitRefusal", () => {
  const now = new Date("2026-12-01T12:00:00Z");

  it("refuses what would pass images_per_day, counting n, stored and reserved images; exactly the limit fits", () => {
    const limits = { imagesPerDay: 10, monthlyBudgetUsd: null };
    const usage = { ...none, imagesUsed: 4, imagesReserved: 3 };
    expect(usageLimitRefusal(limits, usage, { images: 3, costMicros: 0 }, now)).toBeNull();
    const refusal = usageLimitRefusal(limits, usage, { images: 4, costMicros: 0 }, now);
    expect(refusal).toBeInstanceOf(AppError);
    expect(refusal?.code).toBe("quota_exceeded");
    expect(refusal?.context).toEqual({
      retryAfterSeconds: 12 * 3600,
      limit: {
        name: "images_per_day",
        value: 10,
        used: 4,
        reserved: 3,
        requested: 4,
        resets_at: "2026-12-02T00:00:00.000Z",
      },
    });
  });

  it("0 refuses everything; null is no limit", () => {
    expect(
      usageLimitRefusal({ imagesPerDay: 0, monthlyBudgetUsd: null }, none, { images: 1, costMicros: 0 }, now)?.code,
    ).toBe("quota_exceeded");
    expect(
      usageLimitRefusal(
        { imagesPerDay: null, monthlyBudgetUsd: null },
        { ...none, imagesUsed: 1e9 },
        { images: 4, costMicros: 1e12 },
        now,
      ),
    ).toBeNull();
  });

  it("refuses what would pass monthly_budget_usd, in exact micro-dollars", () => {
    const limits = { imagesPerDay: null, monthlyBudgetUsd: 0.3 };
    const usage = { ...none, costUsedMicros: 100_000, costReservedMicros: 74_000 };
    expect(usageLimitRefusal(limits, usage, { images: 3, costMicros: 126_000 }, now)).toBeNull();
    const refusal = usageLimitRefusal(limits, usage, { images: 3, costMicros: 126_001 }, now);
    expect(refusal?.code).toBe("budget_exceeded");
    expect(refusal?.context).toEqual({
      retryAfterSeconds: 31 * 86_400 - 12 * 3600,
      limit: {
        name: "monthly_budget_usd",
        value: 0.3,
        used: 0.1,
        reserved: 0.074,
        requested: 0.126001,
        resets_at: "2027-01-01T00:00:00.000Z",
      },
    });
  });
});

describe("usage range", () => {
  const now = new Date("2026-12-15T08:30:00Z");
  const parse = (query: Record<string, string>) => resolveUsageRange(UsageQuerySchema.parse(query), now);

  it("defaults to this UTC month up to now, by day; a bare date is UTC midnight", () => {
    expect(parse({})).toEqual({ from: new Date("2026-12-01T00:00:00Z"), to: now, groupBy: "day" });
    expect(parse({ from: "2026-11-01", to: "2026-11-02T10:00:00+02:00", group_by: "model" })).toEqual({
      from: new Date("2026-11-01T00:00:00Z"),
      to: new Date("2026-11-02T08:00:00Z"),
      groupBy: "model",
    });
  });

  it("refuses from after to, and ranges over 366 days, naming the parameter", () => {
    expect(() => parse({ from: "2026-12-16" })).toThrow(/from must not be after to/);
    expect(() => parse({ from: "2025-01-01", to: "2026-01-02T00:00:01Z" })).toThrow(/to must be at most 366 days/);
    expect(parse({ from: "2025-01-01", to: "2026-01-02" }).from).toEqual(new Date("2025-01-01T00:00:00Z"));
  });
});
