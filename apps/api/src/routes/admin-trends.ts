import { readTrends, TREND_WINDOWS, type TrendWindow } from "@darkroom/db";
import type { AdminTrends } from "@darkroom/domain";
import { Router } from "express";
import { z } from "zod";
import type { ApiDeps } from "../deps";
import { parseOrThrow } from "../http/validate";

/** Query of `GET /admin/api/trends`. */
export const AdminTrendsQuerySchema = z.object({
  window: z
    .enum(Object.keys(TREND_WINDOWS) as [TrendWindow, ...TrendWindow[]], { error: "must be 1h or 24h" })
    .default("1h")
    .meta({ description: "1h: 60 one-minute buckets; 24h: 288 five-minute buckets" }),
});

/** The overview's charts: per-bucket series over the last hour or day, for every tenant (Bearer ADMIN_TOKEN). */
export function adminTrendsRouter(deps: ApiDeps): Router {
  const router = Router();
  router.get("/admin/api/trends", async (req, res) => {
    const { window } = parseOrThrow(AdminTrendsQuerySchema, req.query, "query");
    res.json({
      window,
      ...(await readTrends(deps.db, window)),
      generated_at: new Date().toISOString(),
    } satisfies AdminTrends);
  });
  return router;
}
