import type { JobView } from "./job-schemas";
import type { JobStatus } from "./job-state";

/** The system at a glance, as `GET /admin/api/overview` answers (the dashboard's summary). */
export interface AdminOverview {
  jobs: Record<JobStatus, number>;
  /** BullMQ's generation work by state; null while Redis does not answer. */
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

/** A job as the admin API shows it: every tenant's, with the tenant named. */
export type AdminJobView = JobView & { tenant_id: string; tenant_name: string };
