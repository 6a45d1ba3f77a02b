import type { ClaimedJob } from "@darkroom/db";
import { countsAgainstMaxAttempts } from "@darkroom/domain";

/** What the policy reads of a job (a claim's job, or a whole JobRecord). */
export type PolicyJob = Pick<
  ClaimedJob,
  "model" | "fallbackModel" | "fallbackUsed" | "maxAttempts" | "attemptBase" | "deadlineAt" | "attempts"
>;

export const FALLBACK_MODEL = "gpt-image-1";

/** What a failed attempt says about the next one (from the upstream error classification). */
export interface FailureFacts {
  errorClass: string;
  /** Calling the same model again can succeed. */
  retryable: boolean;
  /** The fallback model can succeed where this one failed. */
  fallback: boolean;
  /** The upstream asked us to wait this long. */
  retryAfterMs?: number | undefined;
}

/**
 * How many times in a row one model may be called again after the same kind of failure
 * (upstream-protocol.md section E): transient errors twice, a failure after the stream began
 * once (the call may already be billed), a bad fallback result once.
 */
const RETRY_LIMITS: Record<string, number> = {
  rate_limited: 2,
  transient_upstream: 2,
  network: 2,
  mid_stream_error: 1,
  bad_fallback_result: 1,
  // A stream abandoned mid-way may already be billed, and the same model stalling twice is a
  // reason to try the fallback rather than a third time.
  progress_stalled: 1,
  busy: 2,
};
const DEFAULT_RETRY_LIMIT = 2;

/**
 * The model of the next attempt: the fallback once the job switched to it, else the primary. The
 * claim statement (claimJob) applies the same rule in SQL.
 */
export function chooseModel(job: PolicyJob): string {
  return job.fallbackUsed && job.fallbackModel !== null ? job.fallbackModel : job.model;
}

export interface RetryDecision {
  /** When the next attempt may start, or null when the job fails now. */
  retryAt: Date | null;
  /** The next attempt uses the fallback model (and so do all after it). */
  switchToFallback: boolean;
}

/** Exponential backoff with full jitter, honouring the upstream's own hint (capped). */
export function backoffDelayMs(
  retry: number,
  base: number,
  max: number,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  if (retryAfterMs !== undefined && retryAfterMs >= 0) return Math.min(retryAfterMs, max);
  const ceiling = Math.min(max, base * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * ceiling);
}

/**
 * The wait after the image service said it was busy: `busyDelayMs` doubled for each busy answer in a
 * row, capped at max(`maxDelayMs`, `busyDelayMs`), minus up to a quarter of jitter. Unlike full
 * jitter it never comes back early: load that makes the service say "busy" lasts minutes, and an
 * immediate call only adds to it.
 */
export function busyDelayMs(retry: number, busyDelay: number, max: number, random: () => number = Math.random): number {
  const ceiling = Math.min(Math.max(max, busyDelay), busyDelay * 2 ** Math.max(0, retry - 1));
  return Math.floor(ceiling * (1 - 0.25 * random()));
}

/** The delays of {@link decideRetry}: the general backoff, and the longer one after a busy answer. */
export interface RetryDelays {
  baseDelayMs: number;
  maxDelayMs: number;
  /** UPSTREAM_BUSY_RETRY_DELAY_MS; without it a busy answer waits like any transient error. */
  busyDelayMs?: number;
}

/**
 * After attempt `attempt` (on `model`) failed with `failure`: retry the same model while its kind
 * of failure allows and the primary's share of `max_attempts` (all but one) lasts, else move to the
 * fallback if it can help and is still ahead, else fail. Never past the attempts or the deadline.
 */
export function decideRetry(
  job: PolicyJob,
  attempt: number,
  model: string,
  failure: FailureFacts,
  delays: RetryDelays,
  now: number = Date.now(),
): RetryDecision {
  const fail = { retryAt: null, switchToFallback: false };
  const earlier = job.attempts.filter((a) => a.number > job.attemptBase && a.number < attempt);
  const used =
    earlier.filter((a) => countsAgainstMaxAttempts(a.errorClass)).length +
    (countsAgainstMaxAttempts(failure.errorClass) ? 1 : 0);
  if (used >= job.maxAttempts) return fail;

  let sameInARow = 1;
  for (const previous of [...earlier].reverse()) {
    if (previous.model !== model || previous.errorClass !== failure.errorClass) break;
    sameInARow++;
  }
  const onFallback = job.fallbackModel !== null && model === job.fallbackModel && model !== job.model;
  const fallbackAhead = job.fallbackModel !== null && job.fallbackModel !== job.model && !onFallback;
  const primaryShareLeft = !fallbackAhead || used < Math.max(1, job.maxAttempts - 1);
  const limit = RETRY_LIMITS[failure.errorClass] ?? DEFAULT_RETRY_LIMIT;

  let decision: { delay: number; switchToFallback: boolean };
  if (failure.retryable && sameInARow <= limit && primaryShareLeft) {
    const delay =
      failure.errorClass === "busy" && delays.busyDelayMs !== undefined
        ? busyDelayMs(sameInARow, delays.busyDelayMs, delays.maxDelayMs)
        : backoffDelayMs(sameInARow, delays.baseDelayMs, delays.maxDelayMs, failure.retryAfterMs);
    decision = { delay, switchToFallback: false };
  } else if ((failure.fallback || failure.retryable) && fallbackAhead) {
    decision = { delay: 0, switchToFallback: true }; // a different model: no reason to wait
  } else {
    return fail;
  }
  const retryAt = now + decision.delay;
  if (retryAt >= job.deadlineAt.getTime()) return fail;
  return { retryAt: new Date(retryAt), switchToFallback: decision.switchToFallback };
}
