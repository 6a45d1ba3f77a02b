import { STATUSES } from "../constants";
import { formatPercent, formatSeconds } from "../format";
import type { Overview } from "../types";
import { Card, Pairs } from "./card";

export function SummaryCards({ overview }: { overview: Overview }) {
  const { jobs, queue, last_hour: hour, webhooks } = overview;
  return (
    <>
      <div className="cards cards-status">
        {STATUSES.map((status) => (
          <Card key={status} label={status} testId={`card-${status}`}>
            <p className={`card-value status-${status}`} data-value={jobs[status]}>
              {jobs[status].toLocaleString()}
            </p>
          </Card>
        ))}
      </div>
      <div className="cards cards-metrics">
        <Card label="Queue" testId="card-queue">
          {queue === null ? (
            <p className="muted">Redis unreachable</p>
          ) : (
            <Pairs
              items={[
                ["waiting", queue.waiting],
                ["active", queue.active],
                ["delayed", queue.delayed],
              ]}
            />
          )}
        </Card>
        <Card label="Last hour" testId="card-last-hour">
          <Pairs
            items={[
              ["created", hour.created],
              ["succeeded", hour.succeeded],
              ["failed", hour.failed],
            ]}
          />
        </Card>
        <Card label="Fallback share" testId="card-fallback">
          <p className="card-value">{formatPercent(hour.fallback_used, hour.created)}</p>
          <p className="muted small">
            {hour.fallback_used} of {hour.created} jobs · {hour.failed_attempts}/{hour.attempts} attempts failed
          </p>
        </Card>
        <Card label="Duration" testId="card-duration">
          <Pairs
            items={[
              ["p50", formatSeconds(hour.p50_seconds)],
              ["p95", formatSeconds(hour.p95_seconds)],
            ]}
          />
        </Card>
        <Card label="Webhooks" testId="card-webhooks">
          <Pairs
            items={[
              ["pending", webhooks.pending],
              ["failed (1 h)", webhooks.failed_last_hour],
              ["delivered (1 h)", webhooks.succeeded_last_hour],
            ]}
          />
        </Card>
        <Card label="Errors last hour" testId="errors-last-hour">
          {overview.errors_last_hour.length === 0 ? (
            <p className="muted">None</p>
          ) : (
            <ul className="error-codes">
              {overview.errors_last_hour.map((e) => (
                <li key={e.code}>
                  <code>{e.code}</code>
                  <span className="count">{e.count}</span>
                </li>
              ))}
            </ul>
          )}
        </Card>
      </div>
    </>
  );
}
