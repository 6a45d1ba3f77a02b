import { useCallback, useEffect, useState } from "react";
import { type JobFilter, jobFilterQuery, parseJobFilter } from "./job-filter";

/** Where the API serves the dashboard (vite.config.ts `base`); every route is a path below it. */
export const BASE_PATH = "/dashboard/";

export type Route =
  | { view: "jobs" }
  | { view: "job"; jobId: string }
  | { view: "tenants" }
  | { view: "tenant"; tenantId: string };

/** The view a location path names; anything unknown is the jobs view. */
export function parseRoute(pathname: string): Route {
  const rest = pathname.startsWith(BASE_PATH) ? pathname.slice(BASE_PATH.length) : "";
  const parts = rest.split("/").filter((p) => p !== "");
  if (parts[0] === "jobs" && parts.length === 2 && /^job_[0-9A-Za-z]{26}$/.test(parts[1] ?? "")) {
    return { view: "job", jobId: parts[1] ?? "" };
  }
  if (parts[0] !== "tenants" || parts.length > 2) return { view: "jobs" };
  if (parts[1] === undefined) return { view: "tenants" };
  try {
    return { view: "tenant", tenantId: decodeURIComponent(parts[1]) };
  } catch {
    return { view: "tenants" };
  }
}

export function routePath(route: Route): string {
  switch (route.view) {
    case "jobs":
      return BASE_PATH;
    case "job":
      return `${BASE_PATH}jobs/${encodeURIComponent(route.jobId)}`;
    case "tenants":
      return `${BASE_PATH}tenants`;
    case "tenant":
      return `${BASE_PATH}tenants/${encodeURIComponent(route.tenantId)}`;
  }
}

/** The current route, following the address bar (back, forward) and `navigate`. */
export function useRoute(): [Route, (route: Route) => void] {
  const [route, setRoute] = useState(() => parseRoute(window.location.pathname));
  useEffect(() => {
    const onPop = () => setRoute(parseRoute(window.location.pathname));
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  const navigate = useCallback((next: Route) => {
    // Between the jobs list and a job's page the filter (the query string) stays.
    const keepsFilter = next.view === "jobs" || next.view === "job";
    const path = routePath(next);
    const target = keepsFilter ? `${path}${window.location.search}` : path;
    if (target !== `${window.location.pathname}${window.location.search}`) window.history.pushState(null, "", target);
    setRoute(parseRoute(path));
  }, []);
  return [route, navigate];
}

/**
 * The jobs view's filter, held in the address bar's query string: a link, a reload, back and
 * forward all show the same view. Setting it pushes a history entry (only when it changed).
 */
export function useJobFilterInUrl(): [JobFilter, (filter: JobFilter) => void] {
  const [filter, setFilter] = useState(() => parseJobFilter(window.location.search));
  useEffect(() => {
    const onPop = () => setFilter(parseJobFilter(window.location.search));
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  const change = useCallback((next: JobFilter) => {
    const query = jobFilterQuery(next);
    const target = `${window.location.pathname}${query === "" ? "" : `?${query}`}`;
    if (target !== `${window.location.pathname}${window.location.search}`) window.history.pushState(null, "", target);
    setFilter(parseJobFilter(query));
  }, []);
  return [filter, change];
}
