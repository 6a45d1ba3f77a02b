import { findAnyJob, type JobRecord, presentDelivery, redeliver } from "@darkroom/db";
import { AppError, isId } from "@darkroom/domain";
import { Router } from "express";
import type { ApiDeps } from "../deps";
import { BulkOperations, BulkRequestSchema, presentBulk } from "../http/bulk-operations";
import { jobActions } from "../http/job-actions";
import { idempotencyKeyOf, parseOrThrow } from "../http/validate";
import { presentForOperator } from "./admin-dashboard";

/**
 * What an operator can do to any tenant's job from the console (Bearer ADMIN_TOKEN): the tenant
 * API's cancel, retry and redeliver, recorded in the job's events with `actor: "admin"`.
 */
export function adminActionsRouter(deps: ApiDeps): Router {
  const router = Router();
  const actions = jobActions(deps);
  const present = presentForOperator(deps);
  /** The job after the action, with its tenant's name (one more read: operators' actions are rare). */
  const view = async (job: JobRecord) => {
    const read = await findAnyJob(deps.db, job.id);
    if (read === null) throw new AppError("not_found", `No job ${job.id}.`);
    return present(read);
  };

  router.post("/admin/api/jobs/:id/cancel", async (req, res) => {
    res.json(await view(await actions.cancel(res.locals.log, null, req.params.id, "admin")));
  });

  router.post("/admin/api/jobs/:id/retry", async (req, res) => {
    const { job } = await actions.retry(res.locals.log, null, req.params.id, "admin", null);
    res.status(202).json(await view(job));
  });

  router.post("/admin/api/webhook-deliveries/:id/redeliver", async (req, res) => {
    if (!isId("whd", req.params.id)) throw new AppError("not_found", `No webhook delivery ${req.params.id}.`);
    // An operator's redelivery is not counted against the tenant's redelivery limit.
    const delivery = await redeliver(deps.db, null, req.params.id, "admin");
    await actions.notify(res.locals.log, delivery.jobId);
    res.status(202).json(presentDelivery(delivery));
  });

  // Bulk retries and cancels: run here in batches, resumed by any API process if this one stops.
  const bulk = new BulkOperations(deps, deps.logger);
  bulk.start();
  deps.onClose.add(() => bulk.stop());

  router.post("/admin/api/jobs/bulk", async (req, res) => {
    const body = parseOrThrow(BulkRequestSchema, req.body, "body");
    const { op, created } = await bulk.create(body, idempotencyKeyOf(req));
    if (!created) res.setHeader("Idempotent-Replayed", "true");
    res.status(created ? 202 : 200).json(presentBulk(op));
  });

  router.get("/admin/api/jobs/bulk/:id", async (req, res) => {
    const op = isId("bulk", req.params.id) ? await bulk.get(req.params.id) : null;
    if (op === null) throw new AppError("not_found", `No bulk operation ${req.params.id}.`);
    res.json(presentBulk(op));
  });

  return router;
}
