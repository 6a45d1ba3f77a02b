import { findStalledWork } from "@darkroom/db";
import { withTimeout } from "@darkroom/queue";
import { Router } from "express";
import type { ApiDeps } from "../deps";

export function healthRouter(deps: ApiDeps): Router {
  const router = Router();
  router.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  router.get("/readyz", async (_req, res) => {
    const check = async (fn: () => Promise<unknown>) => {
      try {
        await withTimeout(fn(), 2000, "check");
        return "ok";
      } catch (error) {
        // Prisma's messages span lines (an invocation report); the last line names the cause.
        const message = error instanceof Error ? error.message : String(error);
        const reason =
          message
            .split("\n")
            .filter((line) => line.trim() !== "")
            .at(-1) ?? message;
        return `unavailable: ${reason.trim()}`;
      }
    };
    const stallSeconds = deps.config.env.READY_STALL_SECONDS;
    const [postgres, redis, workers] = await Promise.all([
      check(() => deps.db.$queryRaw`SELECT 1`),
      check(() => deps.redis.ping()),
      // Reachable services are not enough: workers that stopped taking jobs leave work waiting.
      check(async () => {
        const stalled = await findStalledWork(deps.db, stallSeconds * 1000);
        if (stalled !== null) {
          throw new Error(`${stalled.waiting} job(s) waiting over ${stallSeconds} s and no attempt started meanwhile`);
        }
      }),
    ]);
    const ready = postgres === "ok" && redis === "ok" && workers === "ok";
    if (!ready) res.setHeader("Retry-After", "5");
    res.status(ready ? 200 : 503).json({ status: ready ? "ready" : "not_ready", checks: { postgres, redis, workers } });
  });
  return router;
}
