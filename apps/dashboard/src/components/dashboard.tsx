import type { ProgressStage } from "@darkroom/domain";
import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import { type AdminApi, errorMessage, isAbort, UnauthorizedError } from "../api-client";
import { TERMINAL_EVENTS } from "../constants";
import { followAdminStream } from "../event-stream";
import { formatTime } from "../format";
import { isFiltered, type JobFilter } from "../job-filter";
import { INITIAL_JOBS_STATE, jobsReducer } from "../jobs-state";
import { type Route, useJobFilterInUrl } from "../router";
import type { LiveState, Overview, StreamEvent, Tenant } from "../types";
import { AdmissionCards } from "./admission-cards";
import { BulkActions } from "./bulk-actions";
import { CircuitCards } from "./circuit-cards";
import { FilterBar } from "./filter-bar";
import { JobDetail } from "./job-detail";
import { JobsTable } from "./jobs-table";
import { QuotaBanner } from "./quota-banner";
import { SummaryCards } from "./summary-cards";
import { TopBar } from "./top-bar";
import { TrendCharts } from "./trend-charts";

const OVERVIEW_INTERVAL_MS = 5000;
const OVERVIEW_THROTTLE_MS = 2000;

interface DashboardProps {
  api: AdminApi;
  route: Route;
  navigate(route: Route): void;
  onSignOut(): void;
  onUnauthorized(error: UnauthorizedError): void;
}

export function Dashboard({ api, route, navigate, onSignOut, onUnauthorized }: DashboardProps) {
  const [urlFilter, setUrlFilter] = useJobFilterInUrl();
  const [jobsState, dispatch] = useReducer(jobsReducer, { ...INITIAL_JOBS_STATE, filter: urlFilter });
  const [tenants, setTenants] = useState<Tenant[]>([]);
  const [overview, setOverview] = useState<Overview | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [live, setLive] = useState<LiveState>("connecting");
  // A job's page (/dashboard/jobs/{id}) is the list with that job's detail open beside it.
  const selectedId = route.view === "job" ? route.jobId : null;
  const setSelectedId = useCallback(
    (id: string | null) => navigate(id === null ? { view: "jobs" } : { view: "job", jobId: id }),
    [navigate],
  );
  const [detailVersion, setDetailVersion] = useState(0);
  const [now, setNow] = useState(() => Date.now());
  const filterRef = useRef(jobsState.filter);
  filterRef.current = jobsState.filter;
  const selectedRef = useRef(selectedId);
  selectedRef.current = selectedId;
  const [tenantNames, setTenantNames] = useState<Record<string, string>>({});
  const namesAsked = useRef(new Set<string>());

  const report = useCallback(
    (error: unknown) => {
      if (error instanceof UnauthorizedError) onUnauthorized(error);
      else if (!isAbort(error)) setProblem(errorMessage(error));
    },
    [onUnauthorized],
  );

  const refreshOverview = useCallback(async () => {
    try {
      setOverview(await api.overview());
      setProblem(null);
    } catch (error) {
      report(error);
    }
  }, [api, report]);

  const loadJobs = useCallback(
    async (filter: JobFilter) => {
      try {
        const page = await api.jobs(filter);
        dispatch({ type: "loaded", filter, jobs: page.data, nextCursor: page.next_cursor });
      } catch (error) {
        report(error);
      }
    },
    [api, report],
  );

  const loadOlder = useCallback(async () => {
    const { filter, nextCursor } = jobsState;
    if (nextCursor === null) return;
    try {
      const page = await api.jobs(filter, { cursor: nextCursor });
      dispatch({ type: "older", filter, jobs: page.data, nextCursor: page.next_cursor });
    } catch (error) {
      report(error);
    }
  }, [api, report, jobsState]);

  // The address bar holds the filter (links, reloads, back and forward).
  useEffect(() => {
    dispatch({ type: "filter", filter: urlFilter });
  }, [urlFilter]);

  useEffect(() => {
    api.tenants().then((list) => setTenants(list), report);
  }, [api, report]);

  // Terminal events refresh the counts, at most once per OVERVIEW_THROTTLE_MS whatever their rate.
  const overviewDue = useRef<number | null>(null);
  const refreshOverviewSoon = useCallback(() => {
    if (overviewDue.current !== null) return;
    overviewDue.current = window.setTimeout(() => {
      overviewDue.current = null;
      void refreshOverview();
    }, OVERVIEW_THROTTLE_MS);
  }, [refreshOverview]);
  useEffect(() => () => window.clearTimeout(overviewDue.current ?? undefined), []);

  useEffect(() => {
    void refreshOverview();
    const timer = window.setInterval(() => void refreshOverview(), OVERVIEW_INTERVAL_MS);
    return () => window.clearInterval(timer);
  }, [refreshOverview]);

  useEffect(() => {
    void loadJobs(jobsState.filter);
  }, [loadJobs, jobsState.filter]);

  // The overview names tenants by id: their names are read once each tenant first shows up there.
  useEffect(() => {
    const ids = Object.keys(overview?.admission?.running_by_tenant ?? {});
    const unknown = ids.filter((id) => !(id in tenantNames) && !namesAsked.current.has(id));
    if (unknown.length === 0) return;
    for (const id of unknown) namesAsked.current.add(id);
    api
      .tenants()
      .then(
        (list) => setTenantNames((names) => ({ ...names, ...Object.fromEntries(list.map((t) => [t.id, t.name])) })),
        report,
      );
  }, [api, overview, tenantNames, report]);

  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, []);

  useEffect(() => {
    const controller = new AbortController();
    const onEvent = (event: StreamEvent) => {
      if (event.type === "job.progress") {
        const data = event.data as { percent: number; stage: ProgressStage };
        dispatch({ type: "progress", jobId: event.job_id, seq: event.seq, percent: data.percent, stage: data.stage });
        return;
      }
      // Status events carry the job's row (null once it is gone): no read per event.
      if (event.job) dispatch({ type: "upsert", job: event.job });
      if (TERMINAL_EVENTS.includes(event.type)) refreshOverviewSoon();
      if (event.job_id === selectedRef.current) setDetailVersion((v) => v + 1);
    };
    void followAdminStream(
      api,
      {
        onEvent,
        onState: setLive,
        // The stream replays nothing on a fresh connection: read the list once it is open, so no job
        // created in between is missed.
        onFreshStart: () => {
          void loadJobs(filterRef.current);
          void refreshOverview();
        },
        onUnauthorized,
      },
      controller.signal,
    );
    return () => controller.abort();
  }, [api, loadJobs, refreshOverview, refreshOverviewSoon, onUnauthorized]);

  const selectedRow = jobsState.jobs.find((j) => j.id === selectedId);

  return (
    <div className="app">
      <TopBar route={route} navigate={navigate} onSignOut={onSignOut}>
        <span
          className={`live live-${live}`}
          data-testid="live-indicator"
          data-state={live === "live" ? "live" : "reconnecting"}
          role="status"
        >
          <span className="dot" aria-hidden="true" />
          {live === "live" ? "Live" : live === "connecting" ? "Connecting…" : "Reconnecting…"}
        </span>
        <span className="muted small updated">
          {overview !== null && <>Updated {formatTime(overview.generated_at)}</>}
        </span>
      </TopBar>
      {problem !== null && (
        <p className="banner" role="alert">
          {problem}
        </p>
      )}
      <main>
        {overview === null ? (
          <p className="muted">Loading overview…</p>
        ) : (
          <>
            <QuotaBanner quota={overview.upstream_quota ?? null} />
            <SummaryCards overview={overview} />
            <AdmissionCards admission={overview.admission} tenantNames={tenantNames} navigate={navigate} />
            <CircuitCards circuits={overview.circuits ?? null} />
          </>
        )}
        <TrendCharts api={api} onError={report} />
        <FilterBar filter={urlFilter} tenants={tenants} onChange={setUrlFilter} />
        <BulkActions api={api} filter={urlFilter} onUnauthorized={onUnauthorized} />
        <div className={selectedId === null ? "workspace" : "workspace with-detail"}>
          <JobsTable
            jobs={jobsState.jobs}
            loaded={jobsState.loaded}
            filtered={isFiltered(jobsState.filter)}
            hasOlder={jobsState.nextCursor !== null}
            selectedId={selectedId}
            now={now}
            onOlder={() => void loadOlder()}
            onSelect={setSelectedId}
          />
          {selectedId !== null && (
            <JobDetail
              key={selectedId}
              api={api}
              jobId={selectedId}
              version={detailVersion}
              liveJob={selectedRow}
              now={now}
              navigate={navigate}
              onClose={() => setSelectedId(null)}
              onUnauthorized={onUnauthorized}
            />
          )}
        </div>
      </main>
    </div>
  );
}
