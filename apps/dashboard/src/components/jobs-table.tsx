import type { KeyboardEvent } from "react";
import { formatSeconds, formatTime, jobDurationSeconds } from "../format";
import type { AdminJob } from "../types";
import { PriorityBadge } from "./priority-badge";
import { ProgressBar } from "./progress-bar";
import { StatusBadge } from "./status-badge";

interface JobsTableProps {
  jobs: AdminJob[];
  loaded: boolean;
  /** Whether a filter narrows the list (the empty message says so). */
  filtered: boolean;
  /** Whether an older page exists. */
  hasOlder: boolean;
  selectedId: string | null;
  now: number;
  onOlder(): void;
  onSelect(id: string): void;
}

export function JobsTable({ jobs, loaded, filtered, hasOlder, selectedId, now, onOlder, onSelect }: JobsTableProps) {
  const keySelect = (event: KeyboardEvent, id: string) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      onSelect(id);
    }
  };
  return (
    <section className="panel jobs" aria-labelledby="jobs-heading">
      <div className="panel-head">
        <h2 id="jobs-heading">Jobs</h2>
        <span className="muted small" data-testid="jobs-shown">
          {loaded ? `${jobs.length} shown` : ""}
        </span>
      </div>
      <div className="table-scroll">
        <table className="stack-table jobs-table">
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">Tenant</th>
              <th scope="col">Model</th>
              <th scope="col">Status</th>
              <th scope="col" className="col-progress">
                Progress
              </th>
              <th scope="col" className="num">
                Attempts
              </th>
              <th scope="col">Fallback</th>
              <th scope="col">Created</th>
              <th scope="col" className="num">
                Duration
              </th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((job) => (
              <tr
                key={job.id}
                data-testid={`job-row-${job.id}`}
                data-status={job.status}
                data-percent={job.progress.percent}
                className={job.id === selectedId ? "selected" : undefined}
                tabIndex={0}
                aria-selected={job.id === selectedId}
                onClick={() => onSelect(job.id)}
                onKeyDown={(e) => keySelect(e, job.id)}
              >
                <td className="job-cell">
                  <code className="job-id" title={job.id}>
                    {job.id}
                  </code>
                </td>
                <td title={job.tenant_id} data-label="Tenant">
                  {job.tenant_name}
                </td>
                <td data-label="Model">{job.result?.model ?? job.model}</td>
                <td data-label="Status">
                  <span className="badges">
                    <StatusBadge status={job.status} />
                    <PriorityBadge priority={job.priority} />
                  </span>
                </td>
                <td className="col-progress" data-label="Progress">
                  <ProgressBar percent={job.progress.percent} stage={job.progress.stage} status={job.status} />
                </td>
                <td
                  className="num"
                  data-label="Attempts"
                  data-testid={`job-attempts-${job.id}`}
                  title={`${job.attempts.length} upstream call(s); those that used up none of max_attempts (a 429, an interrupted call) are not counted`}
                >
                  {job.attempts_used}/{job.max_attempts}
                </td>
                <td data-label="Fallback">
                  {job.fallback_used ? <span className="flag">fallback</span> : <span className="muted">–</span>}
                </td>
                <td data-label="Created">
                  <time dateTime={job.created_at}>{formatTime(job.created_at)}</time>
                </td>
                <td className="num" data-label="Duration">
                  {formatSeconds(jobDurationSeconds(job, now))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {loaded && jobs.length === 0 && (
          <p className="empty muted" data-testid="jobs-empty">
            {filtered ? "No job matches these filters." : "No jobs yet."}
          </p>
        )}
        {loaded && hasOlder && (
          <p className="more">
            <button type="button" className="secondary" data-testid="jobs-older" onClick={onOlder}>
              Older jobs
            </button>
          </p>
        )}
        {!loaded && <p className="empty muted">Loading jobs…</p>}
      </div>
    </section>
  );
}
