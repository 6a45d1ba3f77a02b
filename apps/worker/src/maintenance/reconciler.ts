import {
  deleteJobsFinishedBefore,
  failExpiredJobs,
  failQueueTimeouts,
  findOrphanCandidates,
  type PrismaClient,
} from "@darkroom/db";
import { isTerminal } from "@darkroom/domain";
import type { Logger } from "@darkroom/logger";
import { type FairIntake, type GenerationQueue, QUEUES, withTimeout, workIdOf } from "@darkroom/queue";
import type { ImageStorage } from "@darkroom/storage";

const LIVE_STATES = new Set(["waiting", "delayed", "active", "prioritized", "waiting-children"]);
/** A job just committed by the API is enqueued by the API itself; give it this long first. */
const QUEUED_GRACE_MS = 3_000;
/** An admitter adds its BullMQ jobs right after choosing them; an admission older than this without one lost it. */
export const ADMISSION_GRACE_MS = 5_000;

export interface ReconcileDeps {
  db: PrismaClient;
  queue: GenerationQueue;
  intake: FairIntake;
  logger: Logger;
  notify: (jobId: string) => void;
  cancel: (jobId: string) => void;
}

export interface ReconcileReport {
  expired: number;
  /** Queued jobs failed `queue_timeout`: their start-by passed before a worker took them. */
  queueTimedOut: number;
  reenqueued: number;
  /** Admissions given a new BullMQ job (their admitter died before adding one). */
  readmitted: number;
  /** Admissions freed because their job had ended without freeing them. */
  freed: number;
}

/**
 * Postgres is the record, Redis only work in flight: every job that should be in flight but is in
 * no intake, no retry wait and no admission (a crash between commit and enqueue, Redis lost its
 * data) is queued again, admissions whose BullMQ job is gone get a new one (or are freed when
 * their job ended), jobs past their deadline are failed, and so are queued jobs past their start-by. Safe to run on many workers at once:
 * every step in Redis is one script fenced on the admission's BullMQ id, and every state change in
 * Postgres is conditional.
 */
export async function reconcile(deps: ReconcileDeps): Promise<ReconcileReport> {
  // Queued jobs whose start-by passed while no worker took them (slots busy, workers down); before
  // the deadlines, so that a job that never started says so even when its deadline passed too.
  const queueTimedOut = await failQueueTimeouts(deps.db);
  for (const job of queueTimedOut) {
    deps.notify(job.id);
    // Out of its tenant's intake, as a cancel does: it no longer counts in queue positions, and is
    // not admitted only to be found failed. Best effort: admitted, it would only find the job failed.
    await deps.intake.remove(workIdOf(job.id, job.attemptBase)).catch(() => undefined);
  }
  if (queueTimedOut.length > 0) {
    deps.logger.info({ jobs: queueTimedOut.length }, "failed queued jobs past their queue_timeout_seconds");
  }
  const expired = await failExpiredJobs(deps.db);
  for (const job of expired) {
    deps.notify(job.id);
    if (job.wasRunning) deps.cancel(job.id);
  }
  const { readmitted, freed } = await sweepAdmissions(deps);
  const candidates = await findOrphanCandidates(deps.db, QUEUED_GRACE_MS);
  const places = await deps.intake.places(candidates.map((job) => workIdOf(job.id, job.attemptBase)));
  let reenqueued = 0;
  for (const [i, job] of candidates.entries()) {
    if (places[i]?.state !== "unknown") continue;
    const queued = await deps.intake.enqueue({
      work: workIdOf(job.id, job.attemptBase),
      tenantId: job.tenantId,
      priority: job.priority,
      createdAt: job.createdAt,
      share: job.tenant,
      notBefore: job.nextAttemptAt,
    });
    if (!queued) continue;
    reenqueued++;
    deps.logger.warn({ job_id: job.id, status: job.status }, "reconciler re-enqueued a job with no work in flight");
  }
  return { expired: expired.length, queueTimedOut: queueTimedOut.length, reenqueued, readmitted, freed };
}

/** Admissions older than the grace whose BullMQ job is not live: re-added, or freed if their job ended. */
async function sweepAdmissions(deps: ReconcileDeps): Promise<{ readmitted: number; freed: number }> {
  const cutoff = Date.now() - ADMISSION_GRACE_MS;
  const stale = (await deps.intake.admittedEntries()).filter((entry) => entry.admittedAt.getTime() < cutoff);
  let readmitted = 0;
  let freed = 0;
  if (stale.length === 0) return { readmitted, freed };
  const jobs = await deps.db.job.findMany({
    where: { id: { in: stale.map((entry) => entry.jobId) } },
    select: { id: true, status: true, attemptBase: true },
  });
  const byId = new Map(jobs.map((job) => [job.id, job]));
  for (const entry of stale) {
    const bullJob = await deps.queue.getJob(entry.bullJobId);
    if (bullJob !== undefined && LIVE_STATES.has(await bullJob.getState())) continue;
    const job = byId.get(entry.jobId);
    const current = job !== undefined && !isTerminal(job.status) && workIdOf(job.id, job.attemptBase) === entry.work;
    if (!current) {
      if (await deps.intake.release(entry.work, entry.bullJobId)) freed++;
      continue;
    }
    const fresh = await deps.intake.readmit(entry.work, entry.bullJobId);
    if (fresh === null) continue;
    await withTimeout(
      deps.queue.add(QUEUES.generation.name, { jobId: entry.jobId, work: entry.work }, { jobId: fresh }),
      5_000,
      "readmit",
    );
    readmitted++;
    deps.logger.warn(
      { job_id: entry.jobId, work: entry.work },
      "reconciler re-added an admission whose BullMQ job was lost",
    );
  }
  return { readmitted, freed };
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
