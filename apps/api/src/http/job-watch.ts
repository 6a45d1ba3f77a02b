import { findJobForTenant, type JobRecord } from "@darkroom/db";
import { isTerminal } from "@darkroom/domain";
import type { ApiDeps } from "../deps";
import { endsJob } from "./event-hub";

/**
 * Resolves with the job once it is terminal, or with its current state after `timeoutMs`, as soon
 * as the process begins to stop (a wait must not hold the shutdown for up to a minute) or when
 * `signal` aborts (the client went away: it leaves the job's feed at once, and the feed stops if it
 * was the last listener). Woken by the terminal events of the job's feed (event-hub.ts), which
 * reads Postgres for every listener of the job; the job itself is read once after joining the feed
 * (it may have ended before) and once at the end.
 */
export async function waitForTerminal(
  deps: ApiDeps,
  tenantId: string,
  jobId: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<JobRecord | null> {
  let awake = false;
  let wake: () => void = () => undefined;
  const woken = new Promise<void>((resolve) => {
    wake = () => {
      awake = true;
      resolve();
    };
  });
  const timer = setTimeout(wake, timeoutMs);
  deps.onClose.add(wake);
  signal?.addEventListener("abort", wake);
  const membership = deps.hub.join(jobId, tenantId, {
    events: (events) => {
      if (endsJob(events)) wake();
    },
  });
  try {
    if (signal?.aborted) return null;
    await Promise.race([membership.ready, woken]);
    if (signal?.aborted) return null;
    deps.metrics.eventReads.inc({ read: "wait" });
    const job = await findJobForTenant(deps.db, tenantId, jobId);
    if (job === null || isTerminal(job.status) || awake) return job;
    await woken;
    // The client left: nobody to answer, nothing more to read.
    if (signal?.aborted) return job;
    deps.metrics.eventReads.inc({ read: "wait" });
    return await findJobForTenant(deps.db, tenantId, jobId);
  } finally {
    clearTimeout(timer);
    deps.onClose.delete(wake);
    signal?.removeEventListener("abort", wake);
    membership.leave();
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
