import type { JobRecord } from "@darkroom/db";
import { describe, expect, it } from "vitest";
import { backoffDelayMs, busyDelayMs, chooseModel, decideRetry, type FailureFacts } from "./policy";

type Attempt = JobRecord["attempts"][number];
function job(over: Partial<JobRecord> = {}, attempts: Partial<Attempt>[] = []): JobRecord {
  return {
    model: "gpt-4o-image",
    fallbackModel: "gpt-image-1",
    fallbackUsed: false,
    maxAttempts: 4,
    attemptBase: 0,
    deadlineAt: new Date(Date.now() + 600_000),
    attempts: attempts.map((a, i) => ({
      number: i + 1,
      model: "gpt-4o-image",
      status: "failed",
      errorClass: "transient_upstream",
      ...a,
    })),
    ...over,
  } as JobRecord;
}
const delays = { baseDelayMs: 1000, maxDelayMs: 30_000 };
const transient: FailureFacts = { errorClass: "transient_upstream", retryable: true, fallback: true };

describe("model choice", () => {
  it("is the primary until the job switched to the fallback", () => {
    expect(chooseModel(job())).toBe("gpt-4o-image");
    expect(chooseModel(job({ fallbackUsed: true }))).toBe("gpt-image-1");
  });
});

describe("retry decision", () => {
  it("retries a transient failure on the same model with backoff, twice, then falls back", () => {
    const now = Date.now();
    const first = decideRetry(job(), 1, "gpt-4o-image", transient, delays, now);
    expect(first.switchToFallback).toBe(false);
    expect(first.retryAt?.getTime()).toBeGreaterThanOrEqual(now);
    expect(first.retryAt?.getTime()).toBeLessThanOrEqual(now + 1000);
    expect(decideRetry(job({}, [{}]), 2, "gpt-4o-image", transient, delays, now).switchToFallback).toBe(false);
    const third = decideRetry(job({}, [{}, {}]), 3, "gpt-4o-image", transient, delays, now);
    expect(third).toEqual({ retryAt: new Date(now), switchToFallback: true });
  });

  it("keeps the last attempt for the fallback (the primary gets all but one)", () => {
    const j = job({ maxAttempts: 2 });
    expect(decideRetry(j, 1, "gpt-4o-image", transient, delays).switchToFallback).toBe(true);
    expect(decideRetry(job({ maxAttempts: 1 }), 1, "gpt-4o-image", transient, delays).retryAt).toBeNull();
  });

  it("goes straight to the fallback for a failure only another model can fix", () => {
    const now = Date.now();
    const noImage: FailureFacts = { errorClass: "no_image", retryable: false, fallback: true };
    expect(decideRetry(job(), 1, "gpt-4o-image", noImage, delays, now)).toEqual({
      retryAt: new Date(now),
      switchToFallback: true,
    });
    expect(decideRetry(job({ fallbackModel: null }), 1, "gpt-4o-image", noImage, delays).retryAt).toBeNull();
  });

  it("never retries what cannot succeed anywhere, nor past max_attempts or the deadline", () => {
    const policy: FailureFacts = { errorClass: "content_policy", retryable: false, fallback: false };
    expect(decideRetry(job(), 1, "gpt-4o-image", policy, delays).retryAt).toBeNull();
    const onFallback = job({ fallbackUsed: true }, [{}, {}, {}]);
    expect(decideRetry(onFallback, 4, "gpt-image-1", transient, delays).retryAt).toBeNull();
    const late = job({ deadlineAt: new Date(Date.now() + 10) });
    expect(decideRetry(late, 1, "gpt-4o-image", { ...transient, retryAfterMs: 5000 }, delays).retryAt).toBeNull();
  });

  it("does not count 429s or interrupted calls against max_attempts", () => {
    const limited: FailureFacts = { errorClass: "rate_limited", retryable: true, fallback: true, retryAfterMs: 2000 };
    const j = job({ maxAttempts: 2 }, [{ errorClass: "interrupted" }]);
    const d = decideRetry(j, 2, "gpt-4o-image", limited, delays);
    expect(d.switchToFallback).toBe(false);
    expect(d.retryAt).not.toBeNull();
  });

  it("retries a bad fallback result once", () => {
    const bad: FailureFacts = { errorClass: "bad_fallback_result", retryable: true, fallback: false };
    const j = job({ fallbackUsed: true, maxAttempts: 10 }, [{ errorClass: "model_not_found" }]);
    expect(decideRetry(j, 2, "gpt-image-1", bad, delays).retryAt).not.toBeNull();
    const again = job({ fallbackUsed: true, maxAttempts: 10 }, [
      { errorClass: "model_not_found" },
      { model: "gpt-image-1", errorClass: "bad_fallback_result" },
    ]);
    expect(decideRetry(again, 3, "gpt-image-1", bad, delays).retryAt).toBeNull();
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

describe("busy and stalled upstreams", () => {
  const busy: FailureFacts = { errorClass: "busy", retryable: true, fallback: true };
  const stalled: FailureFacts = { errorClass: "progress_stalled", retryable: true, fallback: true };

  it("waits longer after a busy answer: the busy delay, doubling, never below three quarters of it", () => {
    expect(busyDelayMs(1, 20_000, 30_000, () => 0)).toBe(20_000);
    expect(busyDelayMs(1, 20_000, 30_000, () => 0.999)).toBeGreaterThan(15_000);
    expect(busyDelayMs(2, 20_000, 30_000, () => 0)).toBe(30_000); // capped at RETRY_MAX_DELAY_MS
    expect(busyDelayMs(2, 20_000, 10_000, () => 0)).toBe(20_000); // never below the busy delay itself
    const now = Date.now();
    const decision = decideRetry(job(), 1, "gpt-4o-image", busy, { ...delays, busyDelayMs: 20_000 }, now);
    expect(decision.switchToFallback).toBe(false);
    expect(decision.retryAt?.getTime() ?? 0).toBeGreaterThanOrEqual(now + 15_000);
    // A transient error on the same settings waits at most the base delay.
    const transientAt = decideRetry(job(), 1, "gpt-4o-image", transient, { ...delays, busyDelayMs: 20_000 }, now);
    expect(transientAt.retryAt?.getTime() ?? 0).toBeLessThanOrEqual(now + 1000);
  });

  it("retries a stalled stream once on the same model, then falls back", () => {
    const now = Date.now();
    expect(decideRetry(job(), 1, "gpt-4o-image", stalled, delays, now).switchToFallback).toBe(false);
    const second = decideRetry(job({}, [{ errorClass: "progress_stalled" }]), 2, "gpt-4o-image", stalled, delays, now);
    expect(second).toEqual({ retryAt: new Date(now), switchToFallback: true });
    expect(decideRetry(job({ maxAttempts: 2 }), 1, "gpt-4o-image", stalled, delays, now).switchToFallback).toBe(true);
  });
});
