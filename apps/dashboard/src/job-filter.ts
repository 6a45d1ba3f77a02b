import type { JobStatus } from "@darkroom/domain";
import { STATUSES } from "./constants";
import type { AdminJob } from "./types";

/**
 * The console's filter, in the API's terms (`GET /admin/api/jobs`): the address bar holds it as
 * the same query string, so a link opens the same view.
 */
export interface JobFilter {
  status: JobStatus[];
  model?: string;
  tenant?: string;
  created_after?: string;
  created_before?: string;
  error_code?: string;
  fallback_used?: "true" | "false";
  q?: string;
  /** `key=value` pairs, all of which must match. */
  metadata: string[];
}

export const EMPTY_FILTER: JobFilter = { status: [], metadata: [] };

const SINGLE = ["model", "tenant", "created_after", "created_before", "error_code", "q"] as const;

/** The filter a query string names; unknown keys and values are left out. */
export function parseJobFilter(search: string): JobFilter {
  const params = new URLSearchParams(search);
  const filter: JobFilter = {
    status: (params.get("status") ?? "")
      .split(",")
      .filter((s): s is JobStatus => (STATUSES as readonly string[]).includes(s)),
    metadata: params.getAll("metadata").filter((pair) => /^[^=]+=/.test(pair)),
  };
  for (const key of SINGLE) {
    const value = params.get(key)?.trim();
    if (value) filter[key] = value;
  }
  const fallback = params.get("fallback_used");
  if (fallback === "true" || fallback === "false") filter.fallback_used = fallback;
  return filter;
}

/** The query string of a filter (empty for no filter), in a stable order. */
export function jobFilterQuery(filter: JobFilter): string {
  const params = new URLSearchParams();
  if (filter.status.length > 0) params.set("status", filter.status.join(","));
  for (const key of SINGLE) {
    const value = filter[key];
    if (value !== undefined && value !== "") params.set(key, value);
  }
  if (filter.fallback_used !== undefined) params.set("fallback_used", filter.fallback_used);
  for (const pair of filter.metadata) params.append("metadata", pair);
  return params.toString();
}

/** The filter as a JSON body (a bulk action's `filter`): the same keys, lists as arrays, nothing empty. */
export function jobFilterBody(filter: JobFilter): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (filter.status.length > 0) body.status = filter.status;
  for (const key of SINGLE) if (filter[key] !== undefined && filter[key] !== "") body[key] = filter[key];
  if (filter.fallback_used !== undefined) body.fallback_used = filter.fallback_used === "true";
  if (filter.metadata.length > 0) body.metadata = filter.metadata;
  return body;
}

export function isFiltered(filter: JobFilter): boolean {
  return jobFilterQuery(filter) !== "";
}

/** Words as the API's full-text search ('simple') splits them: letters and digits, lower case. */
function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** Whether a job (from the live feed) belongs in the filtered view: the API's rules, in the browser. */
export function matchesJobFilter(filter: JobFilter, job: AdminJob): boolean {
  if (filter.status.length > 0 && !filter.status.includes(job.status)) return false;
  if (filter.model !== undefined && job.model !== filter.model) return false;
  if (filter.tenant !== undefined && job.tenant_id !== filter.tenant) return false;
  if (filter.created_after !== undefined && Date.parse(job.created_at) < Date.parse(filter.created_after)) return false;
  if (filter.created_before !== undefined && Date.parse(job.created_at) >= Date.parse(filter.created_before)) {
    return false;
  }
  if (filter.error_code !== undefined && job.error?.code !== filter.error_code) return false;
  if (filter.fallback_used !== undefined && job.fallback_used !== (filter.fallback_used === "true")) return false;
  if (filter.q !== undefined) {
    const q = filter.q.trim();
    if (/^job_/.test(q)) {
      if (job.id !== q) return false;
    } else {
      const prompt = new Set(words(job.prompt));
      if (!words(q).every((w) => prompt.has(w))) return false;
    }
  }
  for (const pair of filter.metadata) {
    const at = pair.indexOf("=");
    const value = job.metadata[pair.slice(0, at)];
    if (value === undefined || value === null || typeof value === "object" || String(value) !== pair.slice(at + 1)) {
      return false;
    }
  }
  return true;
}
