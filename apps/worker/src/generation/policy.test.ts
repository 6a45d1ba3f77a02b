import type { JobRecord } from "@darkroom/db";
import { describe, expect, it } from "vitest";
import { backoffDelayMs, chooseModel, decideRetry } from "./policy";

type Attempt = JobRecord["attempts"][number];
function job(over: Partial<JobRecord> = {}, attempts: Partial<Attempt>[] = []): JobRecord {
  return {
    model: "gpt-4o-image",
    fallbackModel: "gpt-image-1",
    fallbackUsed: false,
    maxAttempts: 4,
    deadlineAt: new Date(Date.now() + 600_000),
    attempts: attempts.map((a, i) => ({ number: i + 1, status: "failed", retryable: true, ...a })),
    ...over,
  } as JobRecord;
}
const delays = { baseDelayMs: 1000, maxDelayMs: 30_000 };

describe("model choice", () => {
  it("gives the primary all attempts but one, then the fallback", () => {
    const j = job();
    expect([1, 2, 3, 4].map((n) => chooseModel(j, n))).toEqual([
      "gpt-4o-image",
      "gpt-4o-image",
      "gpt-4o-image",
      "gpt-image-1",
    ]);
  });
  it("falls back at once after a failure only another model can fix", () => {
    expect(chooseModel(job({}, [{ retryable: false }]), 2)).toBe("gpt-image-1");
  });
  it("never falls back with fallback_model null, or when the primary is gpt-image-1", () => {
    expect(chooseModel(job({ fallbackModel: null }), 4)).toBe("gpt-4o-image");
    expect(chooseModel(job({ model: "gpt-image-1" }), 4)).toBe("gpt-image-1");
  });
});

describe("retry decision", () => {
  it("retries transient failures with backoff while attempts remain", () => {
    const now = Date.now();
    const d = decideRetry(job(), 1, "gpt-4o-image", { retryable: true, fallback: true }, delays, now);
    expect(d.retryAt?.getTime()).toBeGreaterThanOrEqual(now);
    expect(d.retryAt?.getTime()).toBeLessThanOrEqual(now + 1000);
    expect(decideRetry(job(), 4, "gpt-image-1", { retryable: true, fallback: false }, delays).retryAt).toBeNull();
  });
  it("goes straight to the fallback for a failure the fallback can fix", () => {
    const now = Date.now();
    expect(
      decideRetry(job(), 1, "gpt-4o-image", { retryable: false, fallback: true }, delays, now).retryAt?.getTime(),
    ).toBe(now);
    expect(
      decideRetry(job({ fallbackModel: null }), 1, "gpt-4o-image", { retryable: false, fallback: true }, delays)
        .retryAt,
    ).toBeNull();
  });
  it("never retries what cannot succeed, nor past the deadline", () => {
    expect(decideRetry(job(), 1, "gpt-4o-image", { retryable: false, fallback: false }, delays).retryAt).toBeNull();
    const late = job({ deadlineAt: new Date(Date.now() + 10) });
    expect(
      decideRetry(late, 1, "gpt-4o-image", { retryable: true, fallback: true, retryAfterMs: 5000 }, delays).retryAt,
    ).toBeNull();
  });
  it("uses full jitter under an exponential ceiling, and honours (capped) retry-after", () => {
    expect(backoffDelayMs(1, 1000, 30_000, undefined, () => 0.999)).toBe(999);
    expect(backoffDelayMs(4, 1000, 30_000, undefined, () => 0.999)).toBe(7992);
    expect(backoffDelayMs(10, 1000, 30_000, undefined, () => 0.999)).toBe(29_970);
    expect(backoffDelayMs(3, 1000, 30_000, undefined, () => 0)).toBe(0);
    expect(backoffDelayMs(1, 1000, 30_000, 2000)).toBe(2000);
    expect(backoffDelayMs(1, 1000, 30_000, 3_600_000)).toBe(30_000);
  });
});
