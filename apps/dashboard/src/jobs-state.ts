import type { ProgressStage } from "@darkroom/domain";
import { EMPTY_FILTER, type JobFilter, jobFilterQuery, matchesJobFilter } from "./job-filter";
import type { AdminJob } from "./types";

/** Rows kept: live jobs push the oldest out past this (pages loaded with "Older" count too). */
const MAX_ROWS = 1000;

export interface JobsState {
  filter: JobFilter;
  jobs: AdminJob[];
  loaded: boolean;
  /** The cursor of the next older page, null when the list is complete. */
  nextCursor: string | null;
  /** Seq of the newest progress event applied per job: stream events may arrive out of order. */
  progressSeq: Record<string, number>;
}

export type JobsAction =
  | { type: "filter"; filter: JobFilter }
  | { type: "loaded"; filter: JobFilter; jobs: AdminJob[]; nextCursor: string | null }
  | { type: "older"; filter: JobFilter; jobs: AdminJob[]; nextCursor: string | null }
  | { type: "upsert"; job: AdminJob }
  | { type: "progress"; jobId: string; seq: number; percent: number; stage: ProgressStage };

export const INITIAL_JOBS_STATE: JobsState = {
  filter: EMPTY_FILTER,
  jobs: [],
  loaded: false,
  nextCursor: null,
  progressSeq: {},
};

const sameFilter = (a: JobFilter, b: JobFilter) => jobFilterQuery(a) === jobFilterQuery(b);

function mergeFetched(existing: AdminJob, fetched: AdminJob): AdminJob {
  // A fetch that started before a newer progress event must not move the bar backwards.
  if (
    existing.status === "running" &&
    fetched.status === "running" &&
    fetched.progress.percent < existing.progress.percent
  ) {
    return { ...fetched, progress: existing.progress };
  }
  return fetched;
}

/**
 * A list fetched while stream events were arriving can be older than the rows those events
 * produced: keep the fresher version of each job, and jobs created after the list was read.
 */
function mergeLoaded(current: AdminJob[], loaded: AdminJob[]): AdminJob[] {
  const byId = new Map(current.map((j) => [j.id, j]));
  const merged = loaded.map((job) => {
    const live = byId.get(job.id);
    if (live === undefined) return job;
    return live.updated_at > job.updated_at ? live : mergeFetched(live, job);
  });
  const newest = loaded[0]?.id ?? "";
  const newer = current.filter((j) => j.id > newest && !merged.some((m) => m.id === j.id));
  return [...newer, ...merged];
}

export function jobsReducer(state: JobsState, action: JobsAction): JobsState {
  switch (action.type) {
    case "filter":
      if (sameFilter(action.filter, state.filter)) return state;
      return { ...state, filter: action.filter, jobs: [], loaded: false, nextCursor: null };
    case "loaded": {
      if (!sameFilter(action.filter, state.filter)) return state;
      const jobs = mergeLoaded(state.jobs, action.jobs).slice(0, MAX_ROWS);
      // A reload keeps older pages already shown: their cursor still holds.
      const keepsOlder = state.loaded && state.jobs.length > action.jobs.length;
      return { ...state, jobs, loaded: true, nextCursor: keepsOlder ? state.nextCursor : action.nextCursor };
    }
    case "older": {
      if (!sameFilter(action.filter, state.filter)) return state;
      const known = new Set(state.jobs.map((j) => j.id));
      const jobs = [...state.jobs, ...action.jobs.filter((j) => !known.has(j.id))].slice(0, MAX_ROWS);
      return { ...state, jobs, nextCursor: jobs.length >= MAX_ROWS ? null : action.nextCursor };
    }
    case "upsert": {
      const index = state.jobs.findIndex((j) => j.id === action.job.id);
      if (!matchesJobFilter(state.filter, action.job)) {
        return index === -1 ? state : { ...state, jobs: state.jobs.filter((j) => j.id !== action.job.id) };
      }
      if (index !== -1) {
        const jobs = state.jobs.slice();
        jobs[index] = mergeFetched(state.jobs[index] ?? action.job, action.job);
        return { ...state, jobs };
      }
      // Ids are sortable by creation time, so newest first is descending id order.
      const jobs = [...state.jobs, action.job].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
      return { ...state, jobs: jobs.slice(0, MAX_ROWS) };
    }
    case "progress": {
      if ((state.progressSeq[action.jobId] ?? 0) > action.seq) return state;
      const index = state.jobs.findIndex((j) => j.id === action.jobId);
      const current = state.jobs[index];
      if (
        current === undefined ||
        current.status === "succeeded" ||
        current.status === "failed" ||
        current.status === "canceled"
      ) {
        return state;
      }
      const jobs = state.jobs.slice();
      jobs[index] = {
        ...current,
        status: "running",
        progress: { ...current.progress, percent: action.percent, stage: action.stage, queue_position: null },
      };
      return { ...state, jobs, progressSeq: { ...state.progressSeq, [action.jobId]: action.seq } };
    }
  }
}
