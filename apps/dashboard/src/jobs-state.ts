import type { ProgressStage } from "@darkroom/domain";
import type { AdminJob, StatusFilter } from "./types";

const MAX_ROWS = 100;

export interface JobsState {
  filter: StatusFilter;
  jobs: AdminJob[];
  loaded: boolean;
  /** Seq of the newest progress event applied per job: stream events may arrive out of order. */
  progressSeq: Record<string, number>;
}

export type JobsAction =
  | { type: "filter"; filter: StatusFilter }
  | { type: "loaded"; filter: StatusFilter; jobs: AdminJob[] }
  | { type: "upsert"; job: AdminJob }
  | { type: "progress"; jobId: string; seq: number; percent: number; stage: ProgressStage };

export const INITIAL_JOBS_STATE: JobsState = { filter: "all", jobs: [], loaded: false, progressSeq: {} };

function matches(filter: StatusFilter, job: AdminJob): boolean {
  return filter === "all" || job.status === filter;
}

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
      return { ...state, filter: action.filter, jobs: [], loaded: false };
    case "loaded": {
      if (action.filter !== state.filter) return state;
      return { ...state, jobs: mergeLoaded(state.jobs, action.jobs).slice(0, MAX_ROWS), loaded: true };
    }
    case "upsert": {
      const index = state.jobs.findIndex((j) => j.id === action.job.id);
      if (!matches(state.filter, action.job)) {
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
