import { findJobForTenant, type JobRecord } from "@darkroom/db";
import { isTerminal } from "@darkroom/domain";
import type { ApiDeps } from "../deps";

/**
 * Resolves with the job once it is terminal, or with its current state after `timeoutMs`, as soon
 * as the process begins to stop (a wait must not hold the shutdown for up to a minute) or when
 * `signal` aborts (the client went away: its slot and Postgres reads are not held for nobody).
 * Woken by Redis signals, and re-reads Postgres every `eventsFallbackPollMs` in case a signal was lost.
 */
export async function waitForTerminal(
  deps: ApiDeps,
  tenantId: string,
  jobId: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<JobRecord | null> {
  const deadline = Date.now() + timeoutMs;
  let wake: () => void = () => undefined;
  let stopping = false;
  const onStop = () => {
    stopping = true;
    wake();
  };
  const unlisten = await deps.signals.listen(jobId, () => wake());
  deps.onClose.add(onStop);
  signal?.addEventListener("abort", onStop);
  if (signal?.aborted) stopping = true;
  try {
    for (;;) {
      const job = await findJobForTenant(deps.db, tenantId, jobId);
      if (job === null || isTerminal(job.status) || stopping || Date.now() >= deadline) return job;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(
          resolve,
          Math.min(deps.config.eventsFallbackPollMs, Math.max(0, deadline - Date.now())),
        );
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    deps.onClose.delete(onStop);
    signal?.removeEventListener("abort", onStop);
    unlisten();
  }
}

/** `Prefer: wait=N` (RFC 7240), N seconds capped at 60; null when absent or not a number. */
export function parsePreferWait(header: string | undefined): number | null {
  if (header === undefined) return null;
  for (const part of header.split(",")) {
    const m = /^\s*wait\s*=\s*"?(\d{1,6})"?\s*$/i.exec(part);
    if (m) return Math.min(60, Number(m[1]));
  }
  return null;
}
