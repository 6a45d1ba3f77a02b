import type { JobRecord } from "@darkroom/db";

export const FALLBACK_MODEL = "gpt-image-1";

/** What a failed attempt says about the next one (from the upstream error classification). */
export interface FailureFacts {
  /** Calling the same model again can succeed. */
  retryable: boolean;
  /** The fallback model can succeed where this one failed. */
  fallback: boolean;
  /** The upstream asked us to wait this long. */
  retryAfterMs?: number | undefined;
}

/** Attempts the primary model gets before the fallback takes over: all but one. */
export function primaryShare(job: Pick<JobRecord, "maxAttempts">): number {
  return Math.max(1, job.maxAttempts - 1);
}

function hasFallback(job: Pick<JobRecord, "model" | "fallbackModel">): boolean {
  return job.fallbackModel !== null && job.fallbackModel !== job.model;
}

/**
 * The model of attempt `attempt`: the primary until its share is used up or an attempt failed in a
 * way only a different model can fix (e.g. model_not_found), then the fallback for the rest.
 */
export function chooseModel(job: JobRecord, attempt: number): string {
  if (!hasFallback(job) || job.fallbackModel === null) return job.model;
  if (job.fallbackUsed) return job.fallbackModel;
  if (attempt > primaryShare(job)) return job.fallbackModel;
  const last = job.attempts.filter((a) => a.number < attempt).at(-1);
  if (last !== undefined && last.status === "failed" && last.retryable === false) return job.fallbackModel;
  return job.model;
}

export interface RetryDecision {
  /** When the next attempt may start, or null when the job fails now. */
  retryAt: Date | null;
}

/** Exponential backoff with full jitter, honouring the upstream's own hint (capped). */
export function backoffDelayMs(
  attempt: number,
  base: number,
  max: number,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  if (retryAfterMs !== undefined && retryAfterMs >= 0) return Math.min(retryAfterMs, max);
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/**
 * After attempt `attempt` failed: another attempt only if one is left, the deadline allows it, and
 * either the same model can succeed or the fallback is still to come.
 */
export function decideRetry(
  job: JobRecord,
  attempt: number,
  model: string,
  failure: FailureFacts,
  delays: { baseDelayMs: number; maxDelayMs: number },
  now: number = Date.now(),
): RetryDecision {
  if (attempt >= job.maxAttempts) return { retryAt: null };
  const onFallback = model !== job.model;
  const fallbackAhead = hasFallback(job) && !onFallback;
  let delay: number;
  if (failure.retryable) {
    delay = backoffDelayMs(attempt, delays.baseDelayMs, delays.maxDelayMs, failure.retryAfterMs);
  } else if (failure.fallback && fallbackAhead) {
    delay = 0; // a different model: no reason to wait
  } else {
    return { retryAt: null };
  }
  const retryAt = now + delay;
  if (retryAt >= job.deadlineAt.getTime()) return { retryAt: null };
  return { retryAt: new Date(retryAt) };
}
