import type { JobView, OperatorAttemptView } from "./job-schemas";
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
  /** Fair admission (the tenants' intakes in Redis); null while Redis does not answer. */
  admission: AdminAdmission | null;
  /** The upstream quota guard's state; null while the guard is off or Redis does not answer. */
  upstream_quota: AdminUpstreamQuota | null;
  /** Each model's circuit breaker (shared by the workers in Redis); null while Redis does not answer. */
  circuits: AdminCircuit[] | null;
  generated_at: string;
}

/** One model's circuit breaker in `GET /admin/api/overview` (docs/circuit-breaker.md). */
export interface AdminCircuit {
  model: string;
  /** `open`: attempts of jobs with a fallback go straight to it; `half_open`: one probe call decides. */
  state: "closed" | "open" | "half_open";
  /** Calls to the model that ended in the window (CIRCUIT_WINDOW_SECONDS). */
  calls: number;
  /** Of them, upstream failures (content policy and bad requests do not count). */
  failures: number;
  /** failures / calls (0 without calls). */
  failure_rate: number;
  /** When an open circuit lets its probe call through; null when closed. */
  reopens_at: string | null;
}

/** `upstream_quota` of `GET /admin/api/overview` (written by the workers' quota guard). */
export interface AdminUpstreamQuota {
  status: "ok" | "low" | "exhausted" | "unknown";
  /** Quota left in the upstream's units; null when unlimited or not known. */
  available: number | null;
  unlimited: boolean;
  expires_at: string | null;
  checked_at: string | null;
  error: string | null;
  /** Generation is paused for every worker. */
  paused: boolean;
  paused_at: string | null;
  reason: string | null;
}

/** `admission` of `GET /admin/api/overview`: the workers' shared capacity and where work waits. */
export interface AdminAdmission {
  /** The sum of the live workers' `WORKER_CONCURRENCY`. */
  capacity: number;
  /** Work in the generation queue (started or about to). */
  admitted: number;
  /** Work in the tenants' intakes, waiting for a slot. */
  queued: number;
  /** Work waiting for a retry's backoff. */
  retry_wait: number;
  /** Admitted work per tenant id (tenants with none are absent). */
  running_by_tenant: Record<string, number>;
}

/** A job as the admin API shows it: every tenant's, with the tenant named. */
export type AdminJobView = Omit<JobView, "attempts"> & {
  attempts: OperatorAttemptView[];
  tenant_id: string;
  tenant_name: string;
};

/** A tenant as the admin API answers it (never its webhook secret); the dashboard reads the same. */
export interface TenantView {
  id: string;
  name: string;
  created_at: string;
  max_concurrency: number | null;
  weight: number;
  rate_limit_per_minute: number;
  images_per_day: number | null;
  monthly_budget_usd: number | null;
  /** Until when webhooks are also signed with the secret before the last rotation; null when not. */
  previous_webhook_secret_valid_until: string | null;
}

/** An API key as the admin API answers it: never the key, nor its hash. */
export interface ApiKeyView {
  id: string;
  tenant_id: string;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** The windows of `GET /admin/api/trends`: 60 one-minute buckets, or 288 five-minute ones. */
export type AdminTrendWindow = "1h" | "24h";

/** `GET /admin/api/trends` (the overview's charts): one value per bucket, oldest first from `from`. */
export interface AdminTrends {
  window: AdminTrendWindow;
  from: string;
  bucket_seconds: number;
  buckets: number;
  created: number[];
  succeeded: number[];
  failed: number[];
  canceled: number[];
  /** Of the jobs that succeeded in the bucket, how many through the fallback model. */
  fallback_used: number[];
  /** Seconds from creation to success, per model that produced the result (null: none that bucket). */
  duration_by_model: Record<string, { p50: (number | null)[]; p95: (number | null)[] }>;
  /** Failed jobs per error code. */
  errors_by_code: Record<string, number[]>;
  deliveries_succeeded: number[];
  deliveries_failed: number[];
  generated_at: string;
}
