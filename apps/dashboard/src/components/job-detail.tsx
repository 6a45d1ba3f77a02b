import { useEffect, useRef, useState } from "react";
import { type AdminApi, errorMessage, UnauthorizedError } from "../api-client";
import { formatBytes, formatDateTime, formatMs, formatSeconds, formatTime, jobDurationSeconds } from "../format";
import type { Route } from "../router";
import type { AdminJob, JobDetail as JobDetailData, JobEventRecord } from "../types";
import { PriorityBadge } from "./priority-badge";
import { ProgressBar } from "./progress-bar";
import { RouteLink } from "./route-link";
import { StatusBadge } from "./status-badge";

interface JobDetailProps {
  api: AdminApi;
  jobId: string;
  /** Bumped by the stream on every non-progress event of this job: the panel reloads. */
  version: number;
  /** The table's row, which progress events keep current between reloads. */
  liveJob: AdminJob | undefined;
  now: number;
  navigate(route: Route): void;
  onClose(): void;
  onUnauthorized(error: UnauthorizedError): void;
}

function summarize(data: unknown): string {
  if (data === null || typeof data !== "object") return "";
  return Object.entries(data as Record<string, unknown>)
    .map(([key, value]) => `${key}: ${typeof value === "object" ? JSON.stringify(value) : String(value)}`)
    .join(" · ");
}

interface TimelineEntry {
  seq: number;
  type: string;
  created_at: string;
  summary: string;
}

/** One line per run of consecutive progress events ("×12, 3% → 100%"): the timeline stays readable. */
function groupProgress(events: JobEventRecord[]): TimelineEntry[] {
  const entries: TimelineEntry[] = [];
  let i = 0;
  while (i < events.length) {
    const first = events[i] as JobEventRecord;
    if (first.type !== "job.progress") {
      entries.push({ ...first, summary: summarize(first.data) });
      i++;
      continue;
    }
    let last = first;
    let count = 0;
    while (i < events.length && events[i]?.type === "job.progress") {
      last = events[i] as JobEventRecord;
      count++;
      i++;
    }
    const from = (first.data as { percent?: number }).percent ?? 0;
    const { percent: to = 0, stage = "" } = last.data as { percent?: number; stage?: string };
    const range = count === 1 ? `${to}%` : `×${count}, ${from}% → ${to}%`;
    entries.push({ ...first, summary: `${range} ${stage.replaceAll("_", " ")}` });
  }
  return entries;
}

/** A queued job's place moves as others start: its detail is read again this often while it waits. */
const QUEUED_REFRESH_MS = 5000;

export function JobDetail({ api, jobId, version, liveJob, now, navigate, onClose, onUnauthorized }: JobDetailProps) {
  const [detail, setDetail] = useState<JobDetailData | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const heading = useRef<HTMLHeadingElement>(null);

  // The panel is keyed by job id, so this runs each time a row is opened: keyboard users land on it.
  useEffect(() => {
    heading.current?.focus();
  }, []);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `version` (the stream's) and `tick` (the queued refresh) are reload triggers, not values the effect reads.
  useEffect(() => {
    const controller = new AbortController();
    api.jobDetail(jobId, controller.signal).then(
      (d) => {
        setDetail(d);
        setError(null);
      },
      (e: unknown) => {
        if (controller.signal.aborted) return;
        if (e instanceof UnauthorizedError) onUnauthorized(e);
        else setError(e instanceof Error ? e.message : String(e));
      },
    );
    return () => controller.abort();
  }, [api, jobId, version, tick, onUnauthorized]);

  const loaded = detail !== null && detail.job.id === jobId ? detail : null;
  const job = loaded?.job;
  const queued = job?.status === "queued";

  useEffect(() => {
    if (!queued) return;
    const timer = window.setInterval(() => setTick((t) => t + 1), QUEUED_REFRESH_MS);
    return () => window.clearInterval(timer);
  }, [queued]);
  const progress = liveJob?.status === "running" && job?.status === "running" ? liveJob.progress : job?.progress;

  // An operator's action: its outcome is announced, and the panel reloads (the stream also says so).
  const [acting, setActing] = useState(false);
  const [outcome, setOutcome] = useState<string | null>(null);
  const act = async (label: string, action: () => Promise<unknown>) => {
    setActing(true);
    setOutcome(null);
    try {
      await action();
      setOutcome(`${label}: done.`);
      setTick((t) => t + 1);
    } catch (e) {
      if (e instanceof UnauthorizedError) onUnauthorized(e);
      else setOutcome(`${label}: ${errorMessage(e)}`);
    } finally {
      setActing(false);
    }
  };
  const cancelable = job?.status === "queued" || job?.status === "running";
  const retryable = job?.status === "failed" || job?.status === "canceled";

  return (
    <aside className="panel detail" data-testid="job-detail" aria-labelledby="detail-heading">
      <div className="panel-head">
        <h2 id="detail-heading" ref={heading} tabIndex={-1}>
          <code>{jobId}</code>
        </h2>
        <button type="button" className="ghost" onClick={onClose} aria-label="Close job detail">
          ✕
        </button>
      </div>
      {error !== null && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {job !== undefined && (cancelable || retryable) && (
        <div className="detail-actions">
          {cancelable && (
            <button
              type="button"
              className="danger"
              data-testid="detail-cancel"
              disabled={acting}
              onClick={() => void act("Cancel", () => api.cancelJob(jobId))}
            >
              Cancel job
            </button>
          )}
          {retryable && (
            <button
              type="button"
              data-testid="detail-retry"
              disabled={acting}
              onClick={() => void act("Retry", () => api.retryJob(jobId))}
            >
              Retry job
            </button>
          )}
        </div>
      )}
      <p className="muted small" role="status" data-testid="detail-outcome">
        {outcome}
      </p>
      {job === undefined || loaded === null ? (
        error === null && <p className="muted">Loading…</p>
      ) : (
        <div className="detail-body">
          <div className="detail-status">
            <StatusBadge status={job.status} />
            <PriorityBadge priority={job.priority} />
            {progress !== undefined && (
              <ProgressBar percent={progress.percent} stage={progress.stage} status={job.status} />
            )}
          </div>
          <dl className="facts">
            <dt>Tenant</dt>
            <dd title={job.tenant_id}>
              <RouteLink to={{ view: "tenant", tenantId: job.tenant_id }} navigate={navigate}>
                {job.tenant_name}
              </RouteLink>
            </dd>
            <dt>Model</dt>
            <dd>
              {job.model}
              {job.fallback_model !== null && <span className="muted"> → {job.fallback_model}</span>}
              {job.fallback_used && <span className="flag">fallback used</span>}
            </dd>
            <dt>Size</dt>
            <dd>
              {job.n} × {job.size}, {job.quality}
            </dd>
            <dt>Priority</dt>
            <dd data-testid="detail-priority">{job.priority}</dd>
            {job.status === "queued" && (
              <>
                <dt>Queue position</dt>
                <dd data-testid="detail-queue-position" data-value={job.progress.queue_position ?? ""}>
                  {job.progress.queue_position === null ? (
                    <span className="muted">unknown</span>
                  ) : (
                    <>
                      {job.progress.queue_position} <span className="muted">of its tenant's waiting jobs</span>
                    </>
                  )}
                </dd>
              </>
            )}
            {job.queue_expires_at !== null && (
              <>
                <dt>Start by</dt>
                <dd data-testid="detail-start-by" data-value={job.queue_expires_at}>
                  {formatDateTime(job.queue_expires_at)}{" "}
                  <span className="muted">
                    (queue_timeout_seconds {job.queue_timeout_seconds}; not started by then: fails queue_timeout)
                  </span>
                </dd>
              </>
            )}
            {job.hedge_after_seconds !== null && (
              <>
                <dt>Hedge</dt>
                <dd data-testid="detail-hedge">
                  fallback alongside after {job.hedge_after_seconds} s without progress
                </dd>
              </>
            )}
            {(job.status === "queued" || job.status === "running") && (
              <>
                <dt>Estimate</dt>
                <dd data-testid="detail-eta" data-value={job.progress.eta_seconds ?? ""}>
                  {job.progress.eta_seconds === null ? (
                    <span className="muted">no estimate yet (no recent history of this model)</span>
                  ) : (
                    <>done in about {formatSeconds(job.progress.eta_seconds)}</>
                  )}
                </dd>
              </>
            )}
            <dt>Created</dt>
            <dd>{formatDateTime(job.created_at)}</dd>
            <dt>Duration</dt>
            <dd>{formatSeconds(jobDurationSeconds(job, now))}</dd>
            <dt>Prompt</dt>
            <dd className="prompt">{job.prompt}</dd>
            {job.error !== null && (
              <>
                <dt>Error</dt>
                <dd className="error-text">
                  <code>{job.error.code}</code> {job.error.message}
                </dd>
              </>
            )}
          </dl>

          {job.result !== null && job.result.images.length > 0 && (
            <section aria-labelledby="images-heading">
              <h3 id="images-heading">Images</h3>
              <div className="images">
                {job.result.images.map((image) => (
                  <figure key={image.index}>
                    <a href={image.url} target="_blank" rel="noreferrer">
                      <img
                        src={image.url}
                        data-testid={`detail-image-${image.index}`}
                        alt={`Result ${image.index + 1} of ${job.id}`}
                        width={image.width ?? undefined}
                        height={image.height ?? undefined}
                      />
                    </a>
                    <figcaption className="muted small">
                      {image.width ?? "?"}×{image.height ?? "?"} · {formatBytes(image.bytes)}
                    </figcaption>
                  </figure>
                ))}
              </div>
            </section>
          )}

          <section aria-labelledby="attempts-heading">
            <h3 id="attempts-heading">Attempts</h3>
            {job.attempts.length === 0 ? (
              <p className="muted">None yet.</p>
            ) : (
              <ol className="attempts" data-testid="detail-attempts">
                {job.attempts.map((a) => (
                  <li key={a.number} data-testid={`attempt-${a.number}`}>
                    <div className="attempt-head">
                      <strong>#{a.number}</strong> <span>{a.model}</span> <StatusBadge status={a.status} />
                      <time className="muted small" dateTime={a.started_at}>
                        {formatTime(a.started_at)}
                      </time>
                    </div>
                    <dl className="attempt-facts">
                      {a.skipped === "circuit_open" && (
                        <>
                          <dt>Skipped</dt>
                          <dd data-testid={`attempt-${a.number}-skipped`}>the primary's circuit was open</dd>
                        </>
                      )}
                      {!a.counted && (
                        <>
                          <dt>Counted</dt>
                          <dd data-testid={`attempt-${a.number}-not-counted`}>no: used up none of max_attempts</dd>
                        </>
                      )}
                      {a.hedge && (
                        <>
                          <dt>Hedge</dt>
                          <dd data-testid={`attempt-${a.number}-hedge`}>started alongside the running primary</dd>
                        </>
                      )}
                      {a.status === "canceled" && job.hedge_after_seconds !== null && job.status !== "canceled" && (
                        <>
                          <dt>Aborted</dt>
                          <dd data-testid={`attempt-${a.number}-hedge-lost`}>the other call of the hedged run won</dd>
                        </>
                      )}
                      <dt>Error</dt>
                      <dd>
                        {a.error === null ? (
                          "–"
                        ) : (
                          <span className="error-text" title={a.error.message}>
                            <code>{a.error.code}</code>
                            {a.error.class !== null && <span className="muted"> ({a.error.class})</span>}
                          </span>
                        )}
                      </dd>
                      <dt>HTTP</dt>
                      <dd>{a.error?.http_status ?? "–"}</dd>
                      <dt>Upstream request</dt>
                      <dd>{a.upstream_request_id === null ? "–" : <code>{a.upstream_request_id}</code>}</dd>
                      <dt>First byte</dt>
                      <dd>{formatMs(a.time_to_first_byte_ms)}</dd>
                      {a.progress_stood_ms !== null && (
                        <>
                          <dt>Stalled</dt>
                          <dd data-testid={`attempt-${a.number}-stall`}>
                            at {a.last_progress ?? 0}% ({a.last_stage ?? "–"}) for {formatMs(a.progress_stood_ms)}
                          </dd>
                        </>
                      )}
                      {a.upstream_detail !== null && (
                        <>
                          <dt>Upstream said</dt>
                          <dd>
                            <pre className="upstream-detail" data-testid={`attempt-${a.number}-upstream-detail`}>
                              {a.upstream_detail}
                            </pre>
                          </dd>
                        </>
                      )}
                      {a.stream_head !== null && (
                        <>
                          <dt>Unrecognised stream (first 2 KiB)</dt>
                          <dd>
                            <pre className="upstream-detail" data-testid={`attempt-${a.number}-stream-head`}>
                              {a.stream_head}
                            </pre>
                          </dd>
                        </>
                      )}
                    </dl>
                  </li>
                ))}
              </ol>
            )}
          </section>

          <section aria-labelledby="events-heading">
            <h3 id="events-heading">Events</h3>
            <ol className="timeline">
              {groupProgress(loaded.events).map((e) => (
                <li key={e.seq}>
                  <time dateTime={e.created_at}>{formatTime(e.created_at)}</time>
                  <span className={`event-type event-${e.type.replace("job.", "")}`}>{e.type}</span>
                  <span className="muted small event-data" title={e.summary}>
                    {e.summary}
                  </span>
                </li>
              ))}
            </ol>
          </section>

          <section aria-labelledby="deliveries-heading">
            <h3 id="deliveries-heading">Webhook deliveries</h3>
            {loaded.deliveries.length === 0 ? (
              <p className="muted">{job.webhook_url === null ? "No webhook configured." : "None yet."}</p>
            ) : (
              <ul className="deliveries">
                {loaded.deliveries.map((d) => (
                  <li key={d.id}>
                    <StatusBadge status={d.status} /> <span>attempt {d.attempt}</span>{" "}
                    {d.manual && <span className="flag">redelivery</span>}{" "}
                    <span className="muted">
                      {d.response_status === null ? "no response" : `HTTP ${d.response_status}`}
                      {d.duration_ms !== null && ` in ${formatMs(d.duration_ms)}`}
                    </span>{" "}
                    <time className="muted small" dateTime={d.created_at}>
                      {formatTime(d.created_at)}
                    </time>
                    {d.error !== null && <div className="error-text small">{d.error}</div>}
                    {d.response_body !== null && d.response_body !== "" && (
                      <pre className="upstream-detail" data-testid={`delivery-${d.id}-response`}>
                        {d.response_body}
                      </pre>
                    )}
                    <div className="muted small url">{d.url}</div>
                    <button
                      type="button"
                      className="secondary small"
                      data-testid={`redeliver-${d.id}`}
                      disabled={acting}
                      onClick={() => void act("Redeliver", () => api.redeliver(d.id))}
                    >
                      Redeliver
                    </button>
                  </li>
                ))}
              </ul>
            )}
          </section>
        </div>
      )}
    </aside>
  );
}
