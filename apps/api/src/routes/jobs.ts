import { cancelJob, createJob, findJobForTenant, listJobs, presentJob, retryJob } from "@darkroom/db";
import { AppError, isId, JobCreateSchema, JobListQuerySchema } from "@darkroom/domain";
import { enqueueGeneration, publishCancel } from "@darkroom/queue";
import { Router } from "express";
import type { ApiDeps } from "../deps";
import { tenantOf } from "../http/context";
import { parseOrThrow } from "../http/validate";

export function jobsRouter(deps: ApiDeps): Router {
  const router = Router();
  const view = (job: Parameters<typeof presentJob>[0]) => presentJob(job, (id, index) => deps.signer.url(id, index));

  router.post("/v1/jobs", async (req, res) => {
    if (!req.is("application/json")) {
      throw new AppError(
        "unsupported_media_type",
        "Send the job as a JSON body with `Content-Type: application/json`.",
      );
    }
    const input = parseOrThrow(JobCreateSchema, req.body, "body");
    const tenantId = tenantOf(res);
    const job = await createJob(deps.db, { tenantId, input });
    try {
      await enqueueGeneration(deps.queue, job.id);
    } catch (error) {
      // The job is already durable; the reconciler enqueues it once Redis is back.
      res.locals.log.warn({ err: error, job_id: job.id }, "enqueue failed; job left for the reconciler");
    }
    res.status(202).location(`/v1/jobs/${job.id}`).json(view(job));
  });

  router.get("/v1/jobs", async (req, res) => {
    const query = parseOrThrow(JobListQuerySchema, req.query, "query");
    const { jobs, nextCursor } = await listJobs(deps.db, tenantOf(res), query);
    res.json({ object: "list", data: jobs.map(view), next_cursor: nextCursor });
  });

  router.get("/v1/jobs/:id", async (req, res) => {
    const job = isId("job", req.params.id) ? await findJobForTenant(deps.db, tenantOf(res), req.params.id) : null;
    if (job === null) throw new AppError("not_found", `No job ${req.params.id}.`);
    res.json(view(job));
  });

  router.post("/v1/jobs/:id/cancel", async (req, res) => {
    if (!isId("job", req.params.id)) throw new AppError("not_found", `No job ${req.params.id}.`);
    const { job, wasRunning } = await cancelJob(deps.db, tenantOf(res), req.params.id);
    if (wasRunning) {
      // The worker holding the job aborts its upstream call at once; its fenced writes would stop
      // it anyway at the next progress write or lease renewal.
      await publishCancel(deps.redis, deps.config.env.QUEUE_PREFIX, job.id).catch((error: unknown) =>
        res.locals.log.warn({ err: error, job_id: job.id }, "cancel signal not published"),
      );
    }
    await deps.queue.remove(job.id).catch(() => undefined);
    res.json(view(job));
  });

  router.post("/v1/jobs/:id/retry", async (req, res) => {
    if (!isId("job", req.params.id)) throw new AppError("not_found", `No job ${req.params.id}.`);
    const job = await retryJob(deps.db, tenantOf(res), req.params.id);
    try {
      // A new BullMQ id per user retry: the previous run's BullMQ job may still be finishing.
      await enqueueGeneration(deps.queue, job.id, 0, `${job.id}-r${job.attemptBase}`);
    } catch (error) {
      res.locals.log.warn({ err: error, job_id: job.id }, "enqueue failed; job left for the reconciler");
    }
    res.status(202).json(view(job));
  });

  return router;
}
