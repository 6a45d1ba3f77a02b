import { deleteJobsFinishedBefore, failExpiredJobs, findOrphanCandidates, type PrismaClient } from "@darkroom/db";
import type { Logger } from "@darkroom/logger";
import { enqueueGeneration, type GenerationQueue } from "@darkroom/queue";
import type { ImageStorage } from "@darkroom/storage";

const LIVE_STATES = new Set(["waiting", "delayed", "active", "prioritized", "waiting-children"]);
/** A job just committed by the API is enqueued by the API itself; give it this long first. */
const QUEUED_GRACE_MS = 3_000;

export interface ReconcileDeps {
  db: PrismaClient;
  queue: GenerationQueue;
  logger: Logger;
  notify: (jobId: string) => void;
  cancel: (jobId: string) => void;
}

export interface ReconcileReport {
  expired: number;
  reenqueued: number;
}

/**
 * Postgres is the record, Redis only work in flight: every job that should be in flight but has no
 * live BullMQ job (a crash between commit and enqueue, Redis lost its data, a dead worker) is
 * enqueued again, and jobs past their deadline are failed. Safe to run on many workers at once:
 * enqueueing under the job's own id is idempotent, and every state change is conditional.
 */
export async function reconcile(deps: ReconcileDeps): Promise<ReconcileReport> {
  const expired = await failExpiredJobs(deps.db);
  for (const job of expired) {
    deps.notify(job.id);
    if (job.wasRunning) deps.cancel(job.id);
  }
  let reenqueued = 0;
  for (const job of await findOrphanCandidates(deps.db, QUEUED_GRACE_MS)) {
    const ids = job.attemptBase > 0 ? [job.id, `${job.id}-r${job.attemptBase}`] : [job.id];
    let live = false;
    for (const id of ids) {
      const bullJob = await deps.queue.getJob(id);
      if (bullJob === undefined) continue;
      const state = await bullJob.getState();
      if (LIVE_STATES.has(state)) {
        live = true;
        break;
      }
      // A finished BullMQ job under this id would swallow the new add: clear it first.
      await bullJob.remove().catch(() => undefined);
    }
    if (live) continue;
    const delay = job.nextAttemptAt === null ? 0 : job.nextAttemptAt.getTime() - Date.now();
    await enqueueGeneration(deps.queue, job.id, delay);
    reenqueued++;
    deps.logger.warn({ job_id: job.id, status: job.status }, "reconciler re-enqueued a job with no work in flight");
  }
  return { expired: expired.length, reenqueued };
}

/** Removes terminal jobs older than `retentionDays`, with their images, events and deliveries. */
export async function applyRetention(
  db: PrismaClient,
  storage: ImageStorage,
  retentionDays: number,
  batchSize = 500,
): Promise<number> {
  const cutoff = new Date(Date.now() - retentionDays * 86_400_000);
  return deleteJobsFinishedBefore(
    db,
    cutoff,
    async (keys) => {
      await Promise.all(keys.map((key) => storage.delete(key)));
    },
    batchSize,
  );
}
