import type { AdminJob, JobDetail, JobList, Overview, StatusFilter } from "./types";

/** The admin API answered 401: the token is wrong (or was rotated). */
export class UnauthorizedError extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = "UnauthorizedError";
  }
}

interface Problem {
  title?: string;
  detail?: string;
}

async function describeFailure(res: Response): Promise<string> {
  try {
    const problem = (await res.json()) as Problem;
    return problem.detail ?? problem.title ?? `HTTP ${res.status}`;
  } catch {
    return `HTTP ${res.status}`;
  }
}

/** Reads `/admin/api/*` with the admin token. Same origin: the API serves the dashboard. */
export class AdminApi {
  constructor(
    readonly token: string,
    readonly baseUrl = "",
  ) {}

  authHeaders(): Record<string, string> {
    return { authorization: `Bearer ${this.token}` };
  }

  private async get<T>(path: string, signal?: AbortSignal): Promise<T> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      headers: { ...this.authHeaders(), accept: "application/json" },
      signal: signal ?? null,
    });
    if (res.status === 401) throw new UnauthorizedError(await describeFailure(res));
    if (!res.ok) throw new Error(await describeFailure(res));
    return (await res.json()) as T;
  }

  overview(signal?: AbortSignal): Promise<Overview> {
    return this.get("/admin/api/overview", signal);
  }

  jobs(status: StatusFilter, limit = 50, signal?: AbortSignal): Promise<JobList> {
    const query = new URLSearchParams({ limit: String(limit) });
    if (status !== "all") query.set("status", status);
    return this.get(`/admin/api/jobs?${query}`, signal);
  }

  jobDetail(id: string, signal?: AbortSignal): Promise<JobDetail> {
    return this.get(`/admin/api/jobs/${encodeURIComponent(id)}`, signal);
  }

  async job(id: string, signal?: AbortSignal): Promise<AdminJob> {
    return (await this.jobDetail(id, signal)).job;
  }
}
