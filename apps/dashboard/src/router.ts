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

/** The address bar's path and query string. */
const currentAddress = () => `${window.location.pathname}${window.location.search}`;

/**
 * A value held in the address bar: read from it (`read`, a stable function), followed through back
 * and forward, and set by pushing a history entry to `address(next)` (only when the address changes).
 */
function useAddress<T>(read: () => T, address: (next: T) => string): [T, (next: T) => void] {
  const [value, setValue] = useState(read);
  useEffect(() => {
    const onPop = () => setValue(read());
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, [read]);
  const change = useCallback(
    (next: T) => {
      const target = address(next);
      if (target !== currentAddress()) window.history.pushState(null, "", target);
      setValue(read());
    },
    [read, address],
  );
  return [value, change];
}

const readRoute = () => parseRoute(window.location.pathname);
/** Between the jobs list and a job's page the filter (the query string) stays. */
const routeAddress = (next: Route) =>
  next.view === "jobs" || next.view === "job" ? `${routePath(next)}${window.location.search}` : routePath(next);

/** The current route, following the address bar (back, forward) and `navigate`. */
export function useRoute(): [Route, (route: Route) => void] {
  return useAddress(readRoute, routeAddress);
}

const readJobFilter = () => parseJobFilter(window.location.search);
const jobFilterAddress = (next: JobFilter) => {
  const query = jobFilterQuery(next);
  return `${window.location.pathname}${query === "" ? "" : `?${query}`}`;
};

/**
 * The jobs view's filter, held in the address bar's query string: a link, a reload, back and
 * forward all show the same view. Setting it pushes a history entry (only when it changed).
 */
export function useJobFilterInUrl(): [JobFilter, (filter: JobFilter) => void] {
  return useAddress(readJobFilter, jobFilterAddress);
}
