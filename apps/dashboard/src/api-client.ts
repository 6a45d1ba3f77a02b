import type { FieldError } from "@darkroom/domain";
import { type JobFilter, jobFilterBody, jobFilterQuery } from "./job-filter";
import type {
  AdminJob,
  ApiKey,
  BulkOperation,
  CreatedApiKey,
  CreatedTenant,
  JobDetail,
  JobList,
  Overview,
  RotatedSecret,
  Tenant,
  TenantPatch,
  Trends,
  TrendWindow,
  Usage,
} from "./types";

/** The admin API answered 401: the token is wrong (or was rotated). */
export class UnauthorizedError extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = "UnauthorizedError";
  }
}

/** Any other refusal, with the problem document's `code` and per-field `errors` when it had them. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | null,
    detail: string,
    readonly fieldErrors: FieldError[],
  ) {
    super(detail);
    this.name = "ApiError";
  }
}

interface Problem {
  title?: string;
  detail?: string;
  code?: string;
  errors?: FieldError[];
}

async function failure(res: Response): Promise<Error> {
  let problem: Problem = {};
  try {
    problem = (await res.json()) as Problem;
  } catch {
    // Not a problem document (a proxy's error page): the status is all there is.
  }
  const detail = problem.detail ?? problem.title ?? `HTTP ${res.status}`;
  if (res.status === 401) return new UnauthorizedError(detail);
  return new ApiError(res.status, problem.code ?? null, detail, Array.isArray(problem.errors) ? problem.errors : []);
}

const segment = encodeURIComponent;

/** Reads and changes `/admin/api/*` with the admin token. Same origin: the API serves the dashboard. */
export class AdminApi {
  constructor(
    readonly token: string,
    readonly baseUrl = "",
  ) {}

  authHeaders(): Record<string, string> {
    return { authorization: `Bearer ${this.token}` };
  }

  private async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = { ...this.authHeaders(), accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
      signal: signal ?? null,
    });
    if (!res.ok) throw await failure(res);
    return (await res.json()) as T;
  }

  private get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request("GET", path, undefined, signal);
  }

  /** Cancels any tenant's queued or running job (recorded as the operator's). */
  cancelJob(id: string): Promise<AdminJob> {
    return this.request("POST", `/admin/api/jobs/${segment(id)}/cancel`);
  }

  /** Queues any tenant's failed or canceled job again (recorded as the operator's). */
  retryJob(id: string): Promise<AdminJob> {
    return this.request("POST", `/admin/api/jobs/${segment(id)}/retry`);
  }

  /** Starts a bulk retry or cancel of every job matching `filter` (the count the operator confirmed). */
  startBulk(action: "retry" | "cancel", filter: JobFilter, expectedCount: number): Promise<BulkOperation> {
    return this.request("POST", "/admin/api/jobs/bulk", {
      action,
      filter: jobFilterBody(filter),
      expected_count: expectedCount,
    });
  }

  bulk(id: string, signal?: AbortSignal): Promise<BulkOperation> {
    return this.get(`/admin/api/jobs/bulk/${segment(id)}`, signal);
  }

  /** Sends a webhook delivery's event again (recorded as the operator's). */
  redeliver(deliveryId: string): Promise<unknown> {
    return this.request("POST", `/admin/api/webhook-deliveries/${segment(deliveryId)}/redeliver`);
  }

  /**
   * Opens (`open`) or ends the browser's session for Bull Board at /admin/queues: an HttpOnly
   * cookie limited to that path, derived from the token (a page cannot send the token itself).
   */
  async queuesSession(open: boolean): Promise<void> {
    const res = await fetch(`${this.baseUrl}/admin/api/session`, {
      method: open ? "POST" : "DELETE",
      headers: this.authHeaders(),
    });
    if (!res.ok) throw await failure(res);
  }

  overview(signal?: AbortSignal): Promise<Overview> {
    return this.get("/admin/api/overview", signal);
  }

  /** The overview's time series over the last hour or day. */
  trends(window: TrendWindow, signal?: AbortSignal): Promise<Trends> {
    return this.get(`/admin/api/trends?window=${window}`, signal);
  }

  /** A page of jobs matching `filter`, newest first, older than `cursor`. */
  jobs(
    filter: JobFilter,
    options: { limit?: number; cursor?: string | null } = {},
    signal?: AbortSignal,
  ): Promise<JobList> {
    const query = new URLSearchParams(jobFilterQuery(filter));
    query.set("limit", String(options.limit ?? 50));
    if (options.cursor) query.set("cursor", options.cursor);
    return this.get(`/admin/api/jobs?${query}`, signal);
  }

  /** How many jobs match `filter`. */
  async countJobs(filter: JobFilter, signal?: AbortSignal): Promise<number> {
    return (await this.get<{ count: number }>(`/admin/api/jobs/count?${jobFilterQuery(filter)}`, signal)).count;
  }

  jobDetail(id: string, signal?: AbortSignal): Promise<JobDetail> {
    return this.get(`/admin/api/jobs/${segment(id)}`, signal);
  }

  async tenants(signal?: AbortSignal): Promise<Tenant[]> {
    return (await this.get<{ data: Tenant[] }>("/admin/api/tenants", signal)).data;
  }

  tenant(id: string, signal?: AbortSignal): Promise<Tenant> {
    return this.get(`/admin/api/tenants/${segment(id)}`, signal);
  }

  /** This UTC month so far, per UTC day, with the tenant's limits and what is taken of each. */
  usage(tenantId: string, signal?: AbortSignal): Promise<Usage> {
    return this.get(`/admin/api/tenants/${segment(tenantId)}/usage?group_by=day`, signal);
  }

  /** Sends only the fields in `patch`; answers the tenant as it now is. */
  updateTenant(id: string, patch: TenantPatch): Promise<Tenant> {
    return this.request("PATCH", `/admin/api/tenants/${segment(id)}`, patch);
  }

  /** A new tenant with its first API key and its webhook secret, both shown once. */
  createTenant(name: string): Promise<CreatedTenant> {
    return this.request("POST", "/admin/api/keys", { name });
  }

  async apiKeys(tenantId: string, signal?: AbortSignal): Promise<ApiKey[]> {
    return (await this.get<{ data: ApiKey[] }>(`/admin/api/tenants/${segment(tenantId)}/keys`, signal)).data;
  }

  addApiKey(tenantId: string, name: string): Promise<CreatedApiKey> {
    return this.request("POST", `/admin/api/tenants/${segment(tenantId)}/keys`, { name });
  }

  revokeApiKey(keyId: string): Promise<ApiKey> {
    return this.request("POST", `/admin/api/keys/${segment(keyId)}/revoke`);
  }

  rotateWebhookSecret(tenantId: string): Promise<RotatedSecret> {
    return this.request("POST", `/admin/api/tenants/${segment(tenantId)}/webhook-secret/rotate`);
  }
}

/** What to show for a failed call (AbortError included: callers drop those first). */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A refusal of one field as a sentence naming it ("Name must not be empty."), else the problem's detail. */
export function fieldRefusal(error: unknown, path: string, label: string): string {
  const field = error instanceof ApiError ? error.fieldErrors.find((f) => f.path === path) : undefined;
  return field === undefined ? errorMessage(error) : `${label} ${field.message}.`;
}

/** A request this page gave up on (it moved on): nothing to report. */
export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === "AbortError";
}
