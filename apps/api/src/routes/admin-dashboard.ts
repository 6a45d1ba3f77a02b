import {
  type AdminJobRecord,
  findAnyJob,
  type LiveProgress,
  latestEventSeq,
  listAllJobs,
  listDeliveries,
  listEvents,
  listEventsAfter,
  presentDelivery,
  presentJobForOperator,
  readOverview,
} from "@darkroom/db";
import { type AdminCircuit, AppError, isId, JOB_STATUSES, MODELS } from "@darkroom/domain";
import { readCircuits, readUpstreamQuota, withTimeout } from "@darkroom/queue";
import { Router } from "express";
import { z } from "zod";
import type { ApiDeps } from "../deps";
import { parseOrThrow } from "../http/validate";

/** Query of `GET /admin/api/jobs`. */
export const AdminJobsQuerySchema = z.strictObject({
  status: z
    .enum(JOB_STATUSES, { error: "must be a job status" })
    .optional()
    .meta({ description: "Only jobs in this status" }),
  limit: z.coerce
    .number({ error: "must be an integer" })
    .int()
    .min(1, { error: "must be at least 1" })
    .max(100, { error: "must be at most 100" })
    .default(50)
    .meta({ description: "Page size, 1 to 100" }),
  cursor: z
    .string()
    .regex(/^job_[0-9A-HJKMNP-TV-Z]{26}$/, { error: "is not a cursor this API issued" })
    .optional()
    .meta({ description: "The previous page's next_cursor" }),
});

// Commits of different jobs can land out of seq order, so each poll looks back this far and
// skips what it already sent: nothing is missed, nothing is sent twice.
const LOOKBACK = 500n;
const POLL_MS = 500;

/** What the dashboard reads, for every tenant at once (Bearer ADMIN_TOKEN). */
export function adminDashboardRouter(deps: ApiDeps): Router {
  const router = Router();
  /** The list skips `live` (queue positions and estimates) to stay cheap; one job's detail has them. */
  const view = (job: AdminJobRecord, live: LiveProgress | null = null) => ({
    ...presentJobForOperator(job, (id, index) => deps.signer.url(id, index), live),
    tenant_id: job.tenantId,
    tenant_name: job.tenant.name,
  });

  router.get("/admin/api/overview", async (_req, res) => {
    const { env } = deps.config;
    const [overview, queue, admission, upstreamQuota, circuits] = await Promise.all([
      readOverview(deps.db),
      withTimeout(deps.queue.getJobCounts("waiting", "active", "delayed", "failed"), 2000, "queue counts").catch(
        () => null,
      ),
      deps.intake.snapshot().catch(() => null),
      readUpstreamQuota(deps.redis, env.QUEUE_PREFIX).catch(() => null),
      withTimeout(
        readCircuits(deps.redis, env.QUEUE_PREFIX, MODELS, env.CIRCUIT_WINDOW_SECONDS * 1000),
        2000,
        "circuits",
      )
        .then((all) =>
          all.map(
            (c): AdminCircuit => ({
              model: c.model,
              state: c.state,
              calls: c.calls,
              failures: c.failures,
              failure_rate: c.failureRate,
              reopens_at: c.reopensAt?.toISOString() ?? null,
            }),
          ),
        )
        .catch(() => null),
    ]);
    res.json({
      ...overview,
      queue,
      upstream_quota: upstreamQuota,
      circuits,
      admission:
        admission === null
          ? null
          : {
              capacity: admission.capacity,
              admitted: admission.admitted,
              queued: admission.queued,
              retry_wait: admission.retryWait,
              running_by_tenant: admission.running,
            },
      generated_at: new Date().toISOString(),
    });
  });

  router.get("/admin/api/jobs", async (req, res) => {
    const query = parseOrThrow(AdminJobsQuerySchema, req.query, "query");
    const { jobs, nextCursor } = await listAllJobs(deps.db, query);
    res.json({ object: "list", data: jobs.map((job) => view(job)), next_cursor: nextCursor });
  });

  router.get("/admin/api/jobs/:id", async (req, res) => {
    const job = isId("job", req.params.id) ? await findAnyJob(deps.db, req.params.id) : null;
    if (job === null) throw new AppError("not_found", `No job ${req.params.id}.`);
    const [events, deliveries, live] = await Promise.all([
      listEvents(deps.db, job.id, 0n, 500),
      listDeliveries(deps.db, job.tenantId, job.id),
      deps.estimates.of([job]),
    ]);
    res.json({
      job: view(job, live.get(job.id) ?? null),
      events: events.map((e) => ({
        seq: Number(e.seq),
        type: e.type,
        data: e.data,
        created_at: e.createdAt.toISOString(),
      })),
      deliveries: deliveries.map(presentDelivery),
    });
  });

  router.get("/admin/api/stream", async (req, res) => {
    const lastEventId = req.get("last-event-id");
    // Resume after Last-Event-ID, or start from now: the dashboard loads the past with /admin/api/jobs.
    const startSeq =
      lastEventId !== undefined && /^\d{1,18}$/.test(lastEventId) ? BigInt(lastEventId) : await latestEventSeq(deps.db);
    let last = startSeq;
    res.status(200);
    res.setHeader("Content-Type", "text/event-stream; charset=utf-8");
    res.setHeader("Cache-Control", "no-cache, no-transform");
    res.setHeader("X-Accel-Buffering", "no");
    res.flushHeaders();
    res.write("retry: 2000\n\n");
    const sent = new Set<bigint>();
    let closed = false;
    let busy = false;
    const poll = async () => {
      if (busy || closed) return;
      busy = true;
      try {
        const floor = last > LOOKBACK ? last - LOOKBACK : 0n;
        for (const e of await listEventsAfter(deps.db, floor)) {
          if (sent.has(e.seq) || e.seq <= startSeq || closed) continue;
          sent.add(e.seq);
          if (e.seq > last) last = e.seq;
          const data = {
            seq: Number(e.seq),
            type: e.type,
            job_id: e.jobId,
            tenant_id: e.tenantId,
            data: e.data,
            created_at: e.createdAt.toISOString(),
          };
          res.write(`id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(data)}\n\n`);
        }
        for (const seq of sent) if (seq < floor) sent.delete(seq);
      } catch (error) {
        res.locals.log.warn({ err: error }, "dashboard stream read failed");
      } finally {
        busy = false;
      }
    };
    const timers = [
      setInterval(() => void poll(), POLL_MS),
      setInterval(() => res.write(": keep-alive\n\n"), deps.config.env.SSE_KEEPALIVE_MS),
    ];
    const finish = () => {
      if (closed) return;
      closed = true;
      for (const t of timers) clearInterval(t);
      deps.onClose.delete(finish);
      res.end();
    };
    req.on("close", finish);
    deps.onClose.add(finish);
    await poll();
  });

  return router;
}
