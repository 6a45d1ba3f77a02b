import type {
  AdminAdmission,
  AdminJobView,
  AdminOverview,
  AdminTrends,
  AdminTrendWindow,
  ApiKeyView,
  JobStatus,
  TenantView,
  UsageFigures,
  UsageLimitView,
  UsageReport,
} from "@darkroom/domain";

export type AdminJob = AdminJobView;
export type Overview = AdminOverview;
export type Admission = AdminAdmission;

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
  /** What the receiver answered (the start of it). */
  response_body: string | null;
  /** A redelivery asked for by a client or an operator. */
  manual: boolean;
  duration_ms: number | null;
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
  /** The job's row as of the event (every event but `job.progress`); null when it is gone. */
  job?: AdminJob | null;
}

export type LiveState = "connecting" | "live" | "reconnecting";

export type Tenant = TenantView;
/** `GET /admin/api/tenants/{id}/usage`. */
export type Usage = UsageReport;
export type UsageTotals = UsageFigures;
export type LimitUse = UsageLimitView;
export type ApiKey = ApiKeyView;

/** What `PATCH /admin/api/tenants/{id}` takes. A field the form could not read as a number is sent as typed, so the API names the problem. */
export type TenantPatch = Partial<Record<"name" | TenantSettingName, string | number | null>>;

export type TenantSettingName =
  | "max_concurrency"
  | "weight"
  | "rate_limit_per_minute"
  | "images_per_day"
  | "monthly_budget_usd";

export interface CreatedTenant {
  tenant_id: string;
  api_key: string;
  webhook_secret: string;
}

export interface CreatedApiKey {
  id: string;
  api_key: string;
}

export interface RotatedSecret {
  webhook_secret: string;
  previous_valid_until: string;
}

/** A bulk retry or cancel (`POST /admin/api/jobs/bulk`) and its progress. */
export interface BulkOperation {
  id: string;
  action: "retry" | "cancel";
  status: "running" | "succeeded" | "failed";
  total: number;
  processed: number;
  succeeded: number;
  skipped: number;
  failed: number;
  error: string | null;
}

export type Trends = AdminTrends;
export type TrendWindow = AdminTrendWindow;
