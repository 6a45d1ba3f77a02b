import { AppError } from "@darkroom/domain";
import { Router } from "express";
import type { ApiDeps } from "../deps";
import { tenantOf } from "../http/context";
import { buildUsageReport } from "../usage-report";

/** `GET /v1/usage`: the caller's tenant only. */
export function usageRouter(deps: ApiDeps): Router {
  const router = Router();

  router.get("/v1/usage", async (req, res) => {
    const report = await buildUsageReport(deps.db, deps.config.env.MODEL_PRICES, tenantOf(res), req.query);
    if (report === null) throw new AppError("unauthorized", "The API key's tenant no longer exists.");
    res.json(report);
  });

  return router;
}
