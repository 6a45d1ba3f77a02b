import type {
  JobErrorCode,
  JobErrorView,
  JobStatus,
  JobView,
  Model,
  ProgressStage,
  UsageGroup,
  WebhookEventType,
} from "./api-types.js";

/** Options of `new DarkroomClient(…)`. */
export interface DarkroomClientOptions {
  /** Where the API listens, such as `http://127.0.0.1:3000`. */
  baseUrl: string;
  /** A tenant's API key (`dr_…`). */
  apiKey: string;
  /** A `fetch` to use instead of the global one (for proxies, tests, instrumentation). */
  fetch?: typeof fetch;
  /**
   * Per request, in milliseconds (default 60 000). `Prefer: wait=N` requests get N seconds more, and an
   * event stream applies it to the connection and to every silence between two chunks.
   */
  timeoutMs?: number;
}

/** Every event type of a job's log. */
export type DarkroomEventType =
  | "job.queued"
  | "job.started"
  | "job.progress"
  | "job.attempt_failed"
  | "job.fallback"
  | "job.succeeded"
  | "job.failed"
  | "job.canceled"
  | "job.webhook_redelivered";

/** Event types after which a job's stream ends. */
export const TERMINAL_EVENT_TYPES: readonly DarkroomEventType[] = ["job.succeeded", "job.failed", "job.canceled"];

/** `data` of each event type (the API's OpenAPI document has the same, as `Job…Data` schemas). */
export interface DarkroomEventData {
  /** The job was created (or queued again by `retryJob`: `retry: true`). */
  "job.queued": { status: "queued"; retry?: true | undefined; actor?: Actor | undefined };
  /** An attempt started: `skipped` when the primary's circuit was open, `hedge` for a hedged fallback. */
  "job.started": { attempt: number; model: Model; skipped?: "circuit_open" | undefined; hedge?: true | undefined };
  /** The attempt's progress moved. */
  "job.progress": { attempt: number; percent: number; stage: ProgressStage };
  /** An attempt failed; `next_attempt_at` null when none is planned. */
  "job.attempt_failed": {
    attempt: number;
    error: JobErrorView;
    next_attempt_at: string | null;
    /** Hedged runs: the attempt that goes on. */
    still_running?: number | undefined;
    /** The worker running the attempt stopped. */
    interrupted?: true | undefined;
  };
  /** The next attempts use the fallback model, after `after_attempt` failed with `reason`. */
  "job.fallback": { after_attempt: number; reason: JobErrorCode };
  /** The images are stored. */
  "job.succeeded": { attempt: number; model: string; images: number };
  /** The job failed for good. */
  "job.failed": { error: JobErrorView };
  /** The job was canceled from this status. */
  "job.canceled": { previous_status: "queued" | "running"; actor?: Actor | undefined };
  /** A webhook delivery was asked again (`redeliver`); never itself a webhook. */
  "job.webhook_redelivered": { delivery_id: string; event_id: string; actor: Actor };
}

/** Who asked for an action: the tenant's API key (`client`) or an operator in the console (`admin`). */
export type Actor = "client" | "admin";

/**
 * One entry of a job's event log, as SSE and the JSON list show it; `data` is typed by `type`
 * (`if (event.type === "job.progress") event.data.percent`).
 */
export type DarkroomEvent = {
  [T in DarkroomEventType]: {
    /** The event id (`evt_…`); also the `webhook-id` of its webhook deliveries. */
    id: string;
    object: "event";
    /** Position in the log of every job (global: one job's events skip numbers); the SSE `id:` (`Last-Event-ID`). */
    seq: number;
    type: T;
    job_id: string;
    created_at: string;
    data: DarkroomEventData[T];
    /** The job as this event left it; present on terminal events (a job retried since still shows how that run ended). */
    job?: JobView;
  };
}[DarkroomEventType];

/**
 * The JSON body of a webhook, once `verifyWebhook` accepted it: the job as it stood when the event
 * was first sent (every retry sends the same body).
 */
export type DarkroomWebhookPayload = {
  [T in WebhookEventType]: { type: T; timestamp: string; data: JobView };
}[WebhookEventType];

/** A page of a job's event log. */
export interface EventPage {
  data: DarkroomEvent[];
  /** True when more events follow the page: ask again with `after` = the last `seq`. */
  hasMore: boolean;
}

/** One attempt at delivering one event to a job's `webhook_url`. */
export interface WebhookDelivery {
  /** `whd_…` */
  id: string;
  object: "webhook_delivery";
  /** The delivered event: the `webhook-id` header of the request. */
  event_id: string;
  job_id: string;
  url: string;
  attempt: number;
  status: "pending" | "succeeded" | "failed" | "canceled";
  /** True for an attempt asked for with `redeliverWebhook`. */
  manual: boolean;
  response_status: number | null;
  /** The first KiB of the receiver's answer. */
  response_body: string | null;
  error: string | null;
  duration_ms: number | null;
  sent_at: string | null;
  next_attempt_at: string | null;
  created_at: string;
}

/**
 * What `sendTestWebhook` did: one signed `webhook.test` event sent to a URL at once, as real
 * deliveries are sent (nothing stored, nothing retried).
 */
export interface WebhookTestResult {
  object: "webhook_test";
  /** The `webhook-id` header sent. */
  event_id: string;
  url: string;
  /** The receiver answered 2xx. */
  ok: boolean;
  /** The receiver's HTTP status; null when none came (refused, timed out). */
  status: number | null;
  /** Why it failed (`receiver answered HTTP 500`, `connection refused`, ...); null on success. */
  error: string | null;
  duration_ms: number;
  /** The first KiB of the receiver's answer. */
  response_body: string;
}

/** Filters of `listJobs`; dates as ISO 8601 strings or `Date`s. */
export interface ListJobsQuery {
  status?: JobStatus;
  /** Jobs that asked for this model (`model`), whichever model produced the result. */
  model?: Model;
  /** Jobs whose images this model stored (`result.model`: the fallback's when it took over); succeeded jobs only. */
  result_model?: Model;
  created_after?: string | Date;
  created_before?: string | Date;
  /** 1–100, default 20. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

/** A page of jobs, newest first. */
export interface JobPage {
  data: JobView[];
  /** Pass as `cursor` for the next page; null on the last one. */
  nextCursor: string | null;
}

/** Options of `createJob`. */
export interface CreateJobOptions {
  /** Same key and same body answer the original job (`replayed: true`) instead of creating another. */
  idempotencyKey?: string;
  /** `Prefer: wait=N`: hold the answer until the job is terminal or N (0–60) seconds pass. */
  waitSeconds?: number;
}

/** Result of `createJob`. */
export interface CreateJobResult {
  job: JobView;
  /** True when an earlier request with the same `idempotencyKey` created the job. */
  replayed: boolean;
  /** True when the job is already terminal (succeeded, failed or canceled). */
  finished: boolean;
}

/** Options of `getJob`. */
export interface GetJobOptions {
  /** `Prefer: wait=N`: hold the answer until the job is terminal or N (0–60) seconds pass. */
  waitSeconds?: number;
  /** Abandons the request; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of `waitForJob`. */
export interface WaitForJobOptions {
  /** Give up after this long (default 15 minutes, the default `deadline_seconds`). */
  timeoutMs?: number;
  /** Stops waiting; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of `streamEvents`. */
export interface StreamEventsOptions {
  /** Start after this event (its `seq`, as the SSE `id:`); default: from the first event. */
  lastEventId?: string;
  /** Ends the stream; the iteration rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Reconnect with `Last-Event-ID` when the connection drops before the terminal event (default true). */
  reconnect?: boolean;
}

/** An image's stored bytes. */
export interface DownloadedImage {
  bytes: Uint8Array;
  contentType: string;
}

/** Options of `getUsage`; dates as ISO 8601 strings (a bare `YYYY-MM-DD` is UTC midnight) or `Date`s. */
export interface UsageQuery {
  /** Start, inclusive; default: the first instant of the current UTC month. */
  from?: string | Date;
  /** End, exclusive; default: now. At most 366 days after `from`. */
  to?: string | Date;
  /** One row per UTC day (default) or per model. */
  groupBy?: UsageGroup;
}
