import { AppError } from "./errors";

export const JOB_STATUSES = ["queued", "running", "succeeded", "failed", "canceled"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const TERMINAL_STATUSES: readonly JobStatus[] = ["succeeded", "failed", "canceled"];

export const PROGRESS_STAGES = ["queued", "starting", "queuing_upstream", "generating", "storing", "done"] as const;
export type ProgressStage = (typeof PROGRESS_STAGES)[number];

const TRANSITIONS: Record<JobStatus, readonly JobStatus[]> = {
  queued: ["running", "canceled", "failed"],
  // running -> queued when a retry is scheduled
  running: ["queued", "succeeded", "failed", "canceled"],
  succeeded: [],
  // only through POST /v1/jobs/{id}/retry
  failed: ["queued"],
  canceled: ["queued"],
};

/** True when the job can never change again (except by an explicit user retry). */
export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Throws a `conflict` AppError when the transition is not allowed. */
export function assertTransition(from: JobStatus, to: JobStatus): void {
  if (!canTransition(from, to)) {
    throw new AppError("conflict", `A ${from} job cannot become ${to}.`, { context: { from, to } });
  }
}
