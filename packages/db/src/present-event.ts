import type { JobView } from "@darkroom/domain";
import type { JobEventRecord } from "./events";

export const TERMINAL_EVENT_TYPES = ["job.succeeded", "job.failed", "job.canceled"] as const;

export function isTerminalEvent(type: string): boolean {
  return (TERMINAL_EVENT_TYPES as readonly string[]).includes(type);
}

/** An event as the API shows it (SSE `data:`, the JSON list). Terminal events carry the job. */
export interface EventView {
  id: string;
  object: "event";
  seq: number;
  type: string;
  job_id: string;
  created_at: string;
  data: unknown;
  job?: JobView;
}

export function presentEvent(event: JobEventRecord, job?: JobView): EventView {
  return {
    id: event.id,
    object: "event",
    seq: Number(event.seq),
    type: event.type,
    job_id: event.jobId,
    created_at: event.createdAt.toISOString(),
    data: event.data,
    ...(job === undefined ? {} : { job }),
  };
}
