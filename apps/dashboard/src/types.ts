import type { AdminJobView, AdminOverview, JobStatus } from "@darkroom/domain";

export type AdminJob = AdminJobView;
export type Overview = AdminOverview;

export type StatusFilter = JobStatus | "all";

export interface JobList {
  data: AdminJob[];
  next_cursor: string | null;
}

export interface JobEventRecord {
  seq: number;
  type: string;
  data: unknown;
  created_at: string;
}

export interface DeliveryRecord {
  id: string;
  attempt: number;
  status: string;
  response_status: number | null;
  error: string | null;
  url: string;
  created_at: string;
}

export interface JobDetail {
  job: AdminJob;
  events: JobEventRecord[];
  deliveries: DeliveryRecord[];
}

/** One message of `GET /admin/api/stream`. */
export interface StreamEvent {
  seq: number;
  type: string;
  job_id: string;
  tenant_id: string;
  data: unknown;
  created_at: string;
}

export type LiveState = "connecting" | "live" | "reconnecting";
