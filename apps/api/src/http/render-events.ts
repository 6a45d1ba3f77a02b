import {
  type EventView,
  findJobForTenant,
  isTerminalEvent,
  type JobEventRecord,
  presentEvent,
  presentJob,
} from "@darkroom/db";
import type { ApiDeps } from "../deps";

/** Events as the API shows them; terminal ones carry the job as it is now, so a client needs no extra call for the result. */
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
  const view = job === null ? undefined : presentJob(job, (id, i) => deps.signer.url(id, i));
  return events.map((e) => presentEvent(e, isTerminalEvent(e.type) ? view : undefined));
}
