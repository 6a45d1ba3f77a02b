import type { JobStatus, JobView } from "@darkroom/domain";

/** A job as the admin API shows it: every tenant's, with the tenant named. */
export type AdminJob = JobView & { tenant_id: string; tenant_name: string };

export type StatusFilter = JobStatus | "all";

export interface Overview {
  jobs: Record<JobStatus, number>;
  queue: { waiting: number; active: number; delayed: number; failed: number } | null;
  last_hour: {
    created: number;
    succeeded: number;
    failed: number;
    attempts: number;
    failed_attempts: number;
    fallback_used: number;
    p50_seconds: number | null;
    p95_seconds: number | null;
  };
  errors_last_hour: { code: string; count: number }[];
  webhooks: { pending: number; succeeded_last_hour: number; failed_last_hour: number };
  generated_at: string;
}

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
