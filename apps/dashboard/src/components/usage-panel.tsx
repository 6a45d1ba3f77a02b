import { useCallback, useEffect, useState } from "react";
import { type AdminApi, errorMessage, isAbort, UnauthorizedError } from "../api-client";
import { formatCount, formatDateTime, formatUsd, formatUtcDate, formatUtcDay } from "../format";
import type { LimitUse, Usage, UsageTotals } from "../types";
import { limitShares } from "../usage";
import { Panel } from "./panel";

interface UsagePanelProps {
  api: AdminApi;
  tenantId: string;
  /** Bumped when the tenant's settings are saved: a changed limit shows at once. */
  version: number;
  onUnauthorized(error: UnauthorizedError): void;
}

/** The figures of the totals and of each day's row: `label` in the totals, `column` in the table. */
const FIGURES: { name: keyof UsageTotals; label: string; column: string; format(value: number): string }[] = [
  { name: "jobs_succeeded", label: "Jobs succeeded", column: "Succeeded", format: formatCount },
  { name: "jobs_failed", label: "Jobs failed", column: "Failed", format: formatCount },
  { name: "images", label: "Images", column: "Images", format: formatCount },
  { name: "tokens", label: "Tokens", column: "Tokens", format: formatCount },
  { name: "cost_usd", label: "Estimated cost", column: "Cost", format: formatUsd },
];

interface LimitMeterProps {
  name: string;
  label: string;
  use: LimitUse | null;
  format(value: number): string;
}

/** One limit: used, reserved (queued and running jobs) and the limit, as figures and a bar. */
function LimitMeter({ name, label, use, format }: LimitMeterProps) {
  if (use === null) {
    return (
      <div className="limit" data-testid={`limit-${name}`} data-limit="none">
        <div className="limit-head">
          <span className="limit-label">{label}</span>
          <span className="muted">none</span>
        </div>
      </div>
    );
  }
  const shares = limitShares(use);
  return (
    <div
      className="limit"
      data-testid={`limit-${name}`}
      data-limit={use.limit}
      data-used={use.used}
      data-reserved={use.reserved}
    >
      <div className="limit-head">
        <span className="limit-label">{label}</span>
        <span className="limit-figures">
          <strong>{format(use.used)}</strong> used · {format(use.reserved)} reserved · limit {format(use.limit)}
        </span>
      </div>
      {/* The figures above say the same in words: the bar is for the eye only. */}
      <div className="limit-bar" aria-hidden="true">
        <div className="limit-used" style={{ width: `${shares.used}%` }} />
        <div className="limit-reserved" style={{ width: `${shares.reserved}%` }} />
      </div>
      <p className="muted small">
        {format(use.remaining)} left · resets <time dateTime={use.resets_at}>{formatDateTime(use.resets_at)}</time>
      </p>
    </div>
  );
}

/** The tenant's usage this UTC month: totals, its limits with what is taken of each, and each day. */
export function UsagePanel({ api, tenantId, version, onUnauthorized }: UsagePanelProps) {
  const [usage, setUsage] = useState<Usage | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(
    async (signal?: AbortSignal) => {
      setBusy(true);
      try {
        setUsage(await api.usage(tenantId, signal));
        setError(null);
      } catch (e) {
        if (e instanceof UnauthorizedError) onUnauthorized(e);
        else if (!isAbort(e)) setError(errorMessage(e));
      } finally {
        if (signal?.aborted !== true) setBusy(false);
      }
    },
    [api, tenantId, onUnauthorized],
  );

  // biome-ignore lint/correctness/useExhaustiveDependencies: `version` is the reload trigger after a save.
  useEffect(() => {
    const controller = new AbortController();
    void load(controller.signal);
    return () => controller.abort();
  }, [load, version]);

  const days = usage === null ? [] : usage.data.filter((row) => "day" in row).reverse();

  return (
    <Panel
      id="usage-heading"
      title="Usage this month"
      testId="usage-panel"
      actions={
        <button
          type="button"
          className="ghost small"
          disabled={busy}
          onClick={() => void load()}
          data-testid="usage-refresh"
        >
          Refresh
        </button>
      }
    >
      {error !== null && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {usage === null ? (
        error === null && <p className="muted">Loading usage…</p>
      ) : (
        <>
          <p className="muted small">
            Since {formatUtcDate(usage.from)} (UTC), jobs that finished. Cost is an estimate from MODEL_PRICES.
          </p>
          <dl className="pairs usage-totals" data-testid="usage-totals">
            {FIGURES.map((t) => (
              <div key={t.name}>
                <dt>{t.label}</dt>
                <dd data-testid={`usage-${t.name}`} data-value={usage.totals[t.name]}>
                  {t.format(usage.totals[t.name])}
                </dd>
              </div>
            ))}
          </dl>
          <h4 className="subhead">Limits</h4>
          <div className="limits">
            <LimitMeter
              name="images_per_day"
              label="Images today"
              use={usage.limits.images_per_day}
              format={formatCount}
            />
            <LimitMeter
              name="monthly_budget_usd"
              label="Budget this month"
              use={usage.limits.monthly_budget_usd}
              format={formatUsd}
            />
          </div>
          <h4 className="subhead">By day</h4>
          {days.length === 0 ? (
            <p className="muted">No finished jobs this month.</p>
          ) : (
            <table className="stack-table usage-days" data-testid="usage-days">
              <thead>
                <tr>
                  <th scope="col">Day</th>
                  {FIGURES.map((f) => (
                    <th key={f.name} scope="col" className="num">
                      {f.column}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {days.map((row) => {
                  const day = "day" in row ? row.day : "";
                  return (
                    <tr key={day} data-testid={`usage-day-${day}`}>
                      <th scope="row">
                        <time dateTime={day}>{formatUtcDay(day)}</time>
                      </th>
                      {FIGURES.map((f) => (
                        <td key={f.name} className="num" data-label={f.column}>
                          {f.format(row[f.name])}
                        </td>
                      ))}
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
        </>
      )}
    </Panel>
  );
}
