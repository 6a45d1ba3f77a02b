import {
  type EventView,
  findEventSnapshots,
  findJobForTenant,
  isTerminalEvent,
  type JobEventRecord,
  jobAsOf,
  presentEvent,
  presentJob,
} from "@darkroom/db";
import type { ApiDeps } from "../deps";

/**
 * Events as the API shows them; terminal ones carry the job as of that event (its snapshot, or the
 * job as it is for a `job.succeeded`, see `jobAsOf`), so a client needs no extra call for the
 * result, and a job retried since still shows how that run ended. No retry between the reads
 * can change what a terminal event shows: a `job.failed` or `job.canceled` event's snapshot is
 * written by the statement that writes the event, and a succeeded job never changes again.
 */
export async function renderEvents(
  deps: Pick<ApiDeps, "db" | "signer">,
  tenantId: string,
  events: JobEventRecord[],
): Promise<EventView[]> {
  const last = events.at(-1);
  const job =
    last !== undefined && events.some((e) => isTerminalEvent(e.type))
      ? await findJobForTenant(deps.db, tenantId, last.jobId)
      : null;
  if (job === null) return events.map((e) => presentEvent(e));
  const snapshots = await findEventSnapshots(
    deps.db,
    events.filter((e) => isTerminalEvent(e.type)).map((e) => e.id),
  );
  const url = (id: string, i: number) => deps.signer.url(id, i);
  return events.map((e) =>
    presentEvent(e, isTerminalEvent(e.type) ? presentJob(jobAsOf(job, snapshots.get(e.id)), url) : undefined),
  );
}
