import { useCallback, useEffect, useState } from "react";
import { type AdminApi, errorMessage, UnauthorizedError } from "../api-client";
import type { JobFilter } from "../job-filter";
import type { BulkOperation } from "../types";
import { ConfirmDialog } from "./confirm-dialog";

type Action = "retry" | "cancel";
const VERB: Record<Action, string> = { retry: "Retry", cancel: "Cancel" };
const POLL_MS = 500;
const jobs = (n: number) => `${n} ${n === 1 ? "job" : "jobs"}`;

interface BulkActionsProps {
  api: AdminApi;
  filter: JobFilter;
  onUnauthorized(error: UnauthorizedError): void;
}

/**
 * "Retry matching" and "Cancel matching": a confirmation that shows how many jobs the current
 * filter matches, then the server-side operation's progress until it ends.
 */
export function BulkActions({ api, filter, onUnauthorized }: BulkActionsProps) {
  const [asking, setAsking] = useState<{ action: Action; count: number | null } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [operation, setOperation] = useState<BulkOperation | null>(null);

  const fail = useCallback(
    (e: unknown) => {
      if (e instanceof UnauthorizedError) onUnauthorized(e);
      else setError(errorMessage(e));
    },
    [onUnauthorized],
  );

  const ask = async (action: Action) => {
    setError(null);
    setAsking({ action, count: null });
    try {
      const count = await api.countJobs(filter);
      setAsking({ action, count });
    } catch (e) {
      fail(e);
    }
  };

  const confirm = async () => {
    if (asking === null || asking.count === null) return;
    setBusy(true);
    try {
      setOperation(await api.startBulk(asking.action, filter, asking.count));
      setAsking(null);
    } catch (e) {
      fail(e);
    } finally {
      setBusy(false);
    }
  };

  const running = operation?.status === "running";
  const operationId = operation?.id;
  useEffect(() => {
    if (!running || operationId === undefined) return;
    const timer = window.setInterval(() => {
      api.bulk(operationId).then(setOperation, fail);
    }, POLL_MS);
    return () => window.clearInterval(timer);
  }, [api, running, operationId, fail]);

  return (
    <div className="bulk-actions">
      {(["retry", "cancel"] as const).map((action) => (
        <button
          key={action}
          type="button"
          className="secondary"
          data-testid={`bulk-${action}`}
          onClick={() => void ask(action)}
          disabled={running}
        >
          {VERB[action]} matching
        </button>
      ))}
      {operation !== null && (
        <p className="muted small" role="status" data-testid="bulk-progress" data-state={operation.status}>
          {VERB[operation.action]}: {operation.processed}/{operation.total} processed, {operation.succeeded} done,{" "}
          {operation.skipped} skipped, {operation.failed} failed
          {operation.status === "running" ? "…" : ` (${operation.status})`}
          {operation.error !== null && ` ${operation.error}`}
        </p>
      )}
      {asking !== null && (
        <ConfirmDialog
          title={`${VERB[asking.action]} matching jobs`}
          confirmLabel={asking.count === null ? "Counting…" : `${VERB[asking.action]} ${jobs(asking.count)}`}
          busy={busy}
          canConfirm={asking.count !== null && asking.count > 0}
          error={error}
          testId="bulk-dialog"
          onConfirm={() => void confirm()}
          onCancel={() => setAsking(null)}
        >
          <p data-testid="bulk-count" data-value={asking.count ?? ""}>
            {asking.count === null
              ? "Counting the jobs this filter matches…"
              : asking.count === 0
                ? "No job matches this filter."
                : `${jobs(asking.count)} ${asking.count === 1 ? "matches" : "match"} the current filter. Each is ${asking.action === "retry" ? "queued again (failed or canceled ones)" : "stopped (queued or running ones)"}, recorded as done by an operator.`}
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}
