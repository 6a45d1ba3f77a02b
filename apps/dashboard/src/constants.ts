import type { JobStatus } from "@darkroom/domain";

// The dashboard imports only types from @darkroom/domain (its runtime pulls in node:crypto and zod);
// `satisfies` keeps these in step with the domain's union.
export const STATUSES = [
  "queued",
  "running",
  "succeeded",
  "failed",
  "canceled",
] as const satisfies readonly JobStatus[];

export const TERMINAL_EVENTS: readonly string[] = ["job.succeeded", "job.failed", "job.canceled"];
