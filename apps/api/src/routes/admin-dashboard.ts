import {
  type AdminJobRecord,
  countAdminJobs,
  findAnyJob,
  type LiveProgress,
  listAdminJobs,
  listDeliveries,
  listEvents,
  presentDelivery,
  presentJobForOperator,
  readOverview,
} from "@darkroom/db";
import { type AdminCircuit, AppError, isId, MODELS } from "@darkroom/domain";
import { readCircuits, readUpstreamQuota, withTimeout } from "@darkroom/queue";
import { Router } from "express";
import { z } from "zod";
import type { ApiDeps } from "../deps";
import { AdminFeed, type FeedItem, GAP_WAIT_MS, MAX_REPLAY } from "../http/admin-feed";
import { AdminJobFilterSchema, toAdminJobFilter } from "../http/admin-job-filter";
import { parseOrThrow } from "../http/validate";

/** Query of `GET /admin/api/jobs`: the filter, and a page. */
export const AdminJobsQuerySchema = AdminJobFilterSchema.extend({
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

/**
 * A job as the console shows it: with its tenant and what the upstream said. The list skips `live`
 * (queue positions and estimates) to stay cheap; one job's detail has them.
 */
export function presentForOperator(deps: ApiDeps) {
  return (job: AdminJobRecord, live: LiveProgress | null = null) => ({
    ...presentJobForOperator(job, (id, index) => deps.signer.url(id, index), live),
    tenant_id: job.tenantId,
    tenant_name: job.tenant.name,
  });
}

/** What the dashboard reads, for every tenant at once (Bearer ADMIN_TOKEN). */
export function adminDashboardRouter(deps: ApiDeps): Router {
  const router = Router();
  const view = presentForOperator(deps);

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
    const { limit, cursor, ...filter } = parseOrThrow(AdminJobsQuerySchema, req.query, "query");
    const { jobs, nextCursor } = await listAdminJobs(deps.db, toAdminJobFilter(filter), { limit, cursor });
    res.json({ object: "list", data: jobs.map((job) => view(job)), next_cursor: nextCursor });
  });

  router.get("/admin/api/jobs/count", async (req, res) => {
    const filter = parseOrThrow(AdminJobFilterSchema, req.query, "query");
    res.json({ count: await countAdminJobs(deps.db, toAdminJobFilter(filter)) });
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

  // One reader of the event log per process, shared by every open dashboard tab.
  const feed = new AdminFeed(
    deps.db,
    (job) => view(job),
    (error) => deps.logger.warn({ err: error }, "dashboard feed read failed"),
  );
  deps.onClose.add(() => feed.stop());

  router.get("/admin/api/stream", async (req, res) => {
    const lastEventId = req.get("last-event-id");
    const resumeAfter = lastEventId !== undefined && /^\d{1,18}$/.test(lastEventId) ? BigInt(lastEventId) : null;
    res.status(200);
    res.setHeader("Content-Type", "text/event-stream; charset=utf-8");
    res.setHeader("Cache-Control", "no-store, no-transform");
    res.setHeader("X-Accel-Buffering", "no");
    res.flushHeaders();
    // The `id:` of each message is the high-water mark sent so far (never lower), so a reconnect's
    // Last-Event-ID resumes after everything the tab has seen. Whatever the feed broadcasts is new
    // to every tab (late commits included); only a reconnect's replay can overlap it, so the seqs
    // replayed are kept until the feed can no longer send them as late commits.
    let sentUpTo = 0n;
    const replayed = new Set<bigint>();
    const send = (items: FeedItem[]) => {
      let out = "";
      for (const item of items) {
        if (replayed.has(item.seq)) continue;
        if (item.seq > sentUpTo) sentUpTo = item.seq;
        out += `id: ${sentUpTo}\n${item.text}`;
      }
      if (out !== "") res.write(out);
    };
    let held: FeedItem[] | null = [];
    const { position, unsubscribe } = await feed.subscribe((items) => {
      if (held === null) send(items);
      else held.push(...items);
    });
    let closed = false;
    const keepAlive = setInterval(() => res.write(": keep-alive\n\n"), deps.config.env.SSE_KEEPALIVE_MS);
    const finish = () => {
      if (closed) return;
      closed = true;
      clearInterval(keepAlive);
      unsubscribe();
      deps.onClose.delete(finish);
      res.end();
    };
    req.on("close", finish);
    deps.onClose.add(finish);
    sentUpTo = resumeAfter ?? position;
    res.write("retry: 2000\n\n");
    if (resumeAfter !== null && resumeAfter < position) {
      const missed = await feed.replay(resumeAfter, position).catch((error: unknown) => {
        res.locals.log.warn({ err: error }, "dashboard stream replay failed");
        return null;
      });
      if (missed === null || missed.length > MAX_REPLAY) {
        // Too far behind (or unreadable): the tab reloads its lists instead.
        sentUpTo = position;
        res.write(`id: ${position}\nevent: reset\ndata: {}\n\n`);
      } else {
        send(missed);
        for (const item of missed) replayed.add(item.seq);
        setTimeout(() => replayed.clear(), GAP_WAIT_MS).unref();
      }
    }
    const waiting = held;
    held = null;
    send(waiting);
  });

  return router;
}
