import { type Actor, cancelJob, enforceUsageLimits, type JobRecord, type LiveProgress, retryJob } from "@darkroom/db";
import { AppError, isId } from "@darkroom/domain";
import type { Logger } from "@darkroom/logger";
import { publishCancel, publishJobEvents, workIdOf } from "@darkroom/queue";
import type { ApiDeps } from "../deps";

/** A tenant's share of the workers (its weight and cap), as the intake needs it. */
export type TenantShare = { weight: number; maxConcurrency: number | null };

/**
 * What a client (its own jobs) and an operator (any tenant's, `tenantId` null) can do to a job:
 * the same steps either way, the event saying who asked (`actor`).
 */
export function jobActions(deps: ApiDeps) {
  const { env } = deps.config;
  /**
   * Queues the job's work in its tenant's intake; the workers admit it fairly. The job is already
   * durable: if Redis cannot take it now, the reconciler queues it once Redis is back.
   */
  const enqueue = async (log: Logger, job: JobRecord, share: TenantShare): Promise<LiveProgress | undefined> => {
    try {
      // The enqueue tells the job's place too: the answer needs no second call to Redis.
      const place = await deps.intake.enqueuePlaced({
        work: workIdOf(job.id, job.attemptBase),
        tenantId: job.tenantId,
        priority: job.priority,
        createdAt: job.createdAt,
        share,
      });
      return await deps.estimates.ofPlaced(job, place);
    } catch (error) {
      log.warn({ err: error, job_id: job.id }, "enqueue failed; job left for the reconciler");
      return undefined;
    }
  };
  const notify = (log: Logger, jobId: string) =>
    publishJobEvents(deps.redis, env.QUEUE_PREFIX, jobId).catch((error: unknown) =>
      log.warn({ err: error, job_id: jobId }, "event signal not published (listeners poll)"),
    );
  const assertJobId = (id: string) => {
    if (!isId("job", id)) throw new AppError("not_found", `No job ${id}.`);
  };

  return {
    enqueue,
    notify,

    /** Cancels a queued or running job; a running one's worker aborts its upstream call at once. */
    async cancel(log: Logger, tenantId: string | null, jobId: string, actor: Actor): Promise<JobRecord> {
      assertJobId(jobId);
      const { job, wasRunning } = await cancelJob(deps.db, tenantId, jobId, actor);
      if (wasRunning) {
        // The worker holding the job aborts its upstream call at once; its fenced writes would stop
        // it anyway at the next progress write or lease renewal.
        await publishCancel(deps.redis, env.QUEUE_PREFIX, job.id).catch((error: unknown) =>
          log.warn({ err: error, job_id: job.id }, "cancel signal not published"),
        );
      }
      // Best effort (admitted, it would only find the job canceled); never waits long on Redis.
      await deps.intake.remove(workIdOf(job.id, job.attemptBase)).catch(() => undefined);
      await notify(log, job.id);
      return job;
    },

    /**
     * Queues a failed or canceled job again with a fresh attempt budget, which takes from the
     * tenant's quota and budget like a new job. `share`: the tenant's, or null to read it.
     */
    async retry(
      log: Logger,
      tenantId: string | null,
      jobId: string,
      actor: Actor,
      share: TenantShare | null,
    ): Promise<{ job: JobRecord; live: LiveProgress | undefined }> {
      assertJobId(jobId);
      const job = await retryJob(
        deps.db,
        tenantId,
        jobId,
        (tx, current) => enforceUsageLimits(tx, { tenantId: current.tenantId, job: current, prices: env.MODEL_PRICES }),
        actor,
      );
      const tenantShare =
        share ??
        (await deps.db.tenant.findUniqueOrThrow({
          where: { id: job.tenantId },
          select: { weight: true, maxConcurrency: true },
        }));
      // A new work id per user retry (workIdOf): the previous run may still be finishing.
      const live = await enqueue(log, job, tenantShare);
      await notify(log, job.id);
      return { job, live };
    },
  };
}
