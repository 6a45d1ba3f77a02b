import { findStalledWork } from "@darkroom/db";
import { readUpstreamQuota, type UpstreamQuotaState, withTimeout } from "@darkroom/queue";
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
    const quota = await withTimeout(readUpstreamQuota(deps.redis, deps.config.env.QUEUE_PREFIX), 2000, "quota").catch(
      () => null,
    );
    const [postgres, redis, workers] = await Promise.all([
      check(() => deps.db.$queryRaw`SELECT 1`),
      check(() => deps.redis.ping()),
      // Reachable services are not enough: workers that stopped taking jobs leave work waiting.
      // While the quota guard holds generation, waiting work is expected and said as such.
      quota?.paused === true
        ? Promise.resolve("paused: the upstream quota is used up")
        : check(async () => {
            const stalled = await findStalledWork(deps.db, stallSeconds * 1000);
            if (stalled !== null) {
              throw new Error(
                `${stalled.waiting} job(s) waiting over ${stallSeconds} s and no attempt started meanwhile`,
              );
            }
          }),
    ]);
    const ready = postgres === "ok" && redis === "ok" && (workers === "ok" || quota?.paused === true);
    if (!ready) res.setHeader("Retry-After", "5");
    res.status(ready ? 200 : 503).json({
      status: ready ? "ready" : "not_ready",
      checks: { postgres, redis, workers, upstream_quota: describeQuota(quota) },
    });
  });
  return router;
}

/**
 * The upstream quota as `/readyz` says it. A paused generation does not make the API unready: it
 * still takes jobs, which wait and run when the quota returns.
 */
function describeQuota(quota: UpstreamQuotaState | null): string {
  if (quota === null) return "not checked (the guard is off, or no worker has checked yet)";
  if (quota.paused) return `exhausted: generation paused since ${quota.paused_at} (${quota.reason})`;
  if (quota.status === "low") return `low: ${quota.available} left`;
  if (quota.status === "unknown") return `unknown: ${quota.error ?? "not answered"}`;
  return quota.unlimited ? "ok (unlimited)" : `ok: ${quota.available} left`;
}
