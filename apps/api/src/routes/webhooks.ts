import { findDeliveryForTenant, findJobForTenant, listDeliveries, presentDelivery, redeliver } from "@darkroom/db";
import { AppError, isId } from "@darkroom/domain";
import { Router } from "express";
import type { ApiDeps } from "../deps";
import { tenantOf } from "../http/context";

export function webhooksRouter(deps: ApiDeps): Router {
  const router = Router();

  router.get("/v1/jobs/:id/webhook-deliveries", async (req, res) => {
    const tenantId = tenantOf(res);
    const job = isId("job", req.params.id) ? await findJobForTenant(deps.db, tenantId, req.params.id) : null;
    if (job === null) throw new AppError("not_found", `No job ${req.params.id}.`);
    const deliveries = await listDeliveries(deps.db, tenantId, job.id);
    res.json({ object: "list", data: deliveries.map(presentDelivery) });
  });

  router.post("/v1/webhook-deliveries/:id/redeliver", async (req, res) => {
    const tenantId = tenantOf(res);
    if (!isId("whd", req.params.id) || (await findDeliveryForTenant(deps.db, tenantId, req.params.id)) === null) {
      throw new AppError("not_found", `No webhook delivery ${req.params.id}.`);
    }
    // Only redeliveries that would send something count against the tenant's limit.
    await deps.redeliveries.consume(tenantId, res);
    // A new attempt row for the same event (same webhook-id, same body), or the one still pending
    // from an earlier redelivery of it; a worker sends it shortly.
    const delivery = await redeliver(deps.db, tenantId, req.params.id);
    res.status(202).json(presentDelivery(delivery));
  });

  return router;
}
