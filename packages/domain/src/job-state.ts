/**
 * A job's statuses. There is deliberately no transition table here: every status change is one
 * conditional UPDATE in packages/db (claimJob, completeJob and failAttempt fenced on the running
 * attempt, cancelJob, retryJob, failExpiredJobs, releaseJob), because a check made here would read a
 * status another process may already have changed.
 */
export const JOB_STATUSES = ["queued", "running", "succeeded", "failed", "canceled"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const TERMINAL_STATUSES: readonly JobStatus[] = ["succeeded", "failed", "canceled"];

/** A job's progress stage; `done`, `failed` and `canceled` are where its terminal states leave it. */
export const PROGRESS_STAGES = [
  "queued",
  "starting",
  "queuing_upstream",
  "generating",
  "storing",
  "done",
  "failed",
  "canceled",
] as const;
export type ProgressStage = (typeof PROGRESS_STAGES)[number];

/**
 * Whether an attempt that ended with this error class used up one of its run's `max_attempts`: a 429
 * slows the upstream queue instead, and a call cut short by a worker that stopped (or by the quota
 * guard's pause) is not the job's fault. A running attempt counts.
 */
export function countsAgainstMaxAttempts(errorClass: string | null): boolean {
  return errorClass !== "rate_limited" && errorClass !== "interrupted";
}

/** True when the job can never change again (except by an explicit user retry). */
export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}
