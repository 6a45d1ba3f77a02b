import {
  findJobForTenant,
  isTerminalEvent,
  type JobEventRecord,
  listEvents,
  presentEvent,
  presentJob,
} from "@darkroom/db";
import { AppError, isId, isTerminal } from "@darkroom/domain";
import { type Request, type Response, Router } from "express";
import type { ApiDeps } from "../deps";
import { apiKeyOf, tenantOf } from "../http/context";

const PAGE = 500;

function parseSeq(value: unknown, name: string): bigint {
  if (value === undefined || value === "") return 0n;
  if (typeof value !== "string" || !/^\d{1,18}$/.test(value)) {
    throw new AppError("validation_failed", `${name} must be an event seq (a whole number).`, {
      errors: [{ path: name, message: "must be a whole number" }],
    });
  }
  return BigInt(value);
}

/**
 * `GET /v1/jobs/{id}/events`: the job's event log. As SSE it replays from `Last-Event-ID`, follows
 * live and ends after the terminal event; otherwise one JSON page after `after`.
 */
export function eventsRouter(deps: ApiDeps): Router {
  const router = Router();

  const render = async (tenantId: string, events: JobEventRecord[]) => {
    // Terminal events carry the job as it is now, so a client needs no extra call for the result.
    const last = events.at(-1);
    const job =
      last !== undefined && events.some((e) => isTerminalEvent(e.type))
        ? await findJobForTenant(deps.db, tenantId, last.jobId)
        : null;
    const view = job === null ? undefined : presentJob(job, (id, i) => deps.signer.url(id, i));
    return events.map((e) => presentEvent(e, isTerminalEvent(e.type) ? view : undefined));
  };

  router.get("/v1/jobs/:id/events", async (req, res) => {
    const tenantId = tenantOf(res);
    const job = isId("job", req.params.id) ? await findJobForTenant(deps.db, tenantId, req.params.id) : null;
    if (job === null) throw new AppError("not_found", `No job ${req.params.id}.`);
    if (!(req.get("accept") ?? "").includes("text/event-stream")) {
      const after = parseSeq(req.query.after, "after");
      const events = await listEvents(deps.db, job.id, after, PAGE + 1);
      const page = events.slice(0, PAGE);
      res.json({ object: "list", data: await render(tenantId, page), has_more: events.length > PAGE });
      return;
    }
    const from = parseSeq(
      req.get("last-event-id") ?? req.query.after,
      req.get("last-event-id") === undefined ? "after" : "Last-Event-ID",
    );
    await streamEvents(deps, req, res, tenantId, job.id, from, isTerminal(job.status), render);
  });

  return router;
}

async function streamEvents(
  deps: ApiDeps,
  req: Request,
  res: Response,
  tenantId: string,
  jobId: string,
  from: bigint,
  terminalNow: boolean,
  render: (tenantId: string, events: JobEventRecord[]) => Promise<ReturnType<typeof presentEvent>[]>,
): Promise<void> {
  // Taken before anything is written, so that a refusal is still a plain 429.
  const slot = await deps.streamSlots.acquire(apiKeyOf(res));
  res.status(200);
  res.setHeader("Content-Type", "text/event-stream; charset=utf-8");
  res.setHeader("Cache-Control", "no-cache, no-transform");
  res.setHeader("Connection", "keep-alive");
  res.setHeader("X-Accel-Buffering", "no");
  res.flushHeaders();
  res.write("retry: 2000\n\n");

  let last = from;
  let closed = false;
  let running: Promise<void> | null = null;
  let again = false;
  const timers: NodeJS.Timeout[] = [];
  let unlisten: () => void = () => undefined;
  const finish = () => {
    if (closed) return;
    closed = true;
    slot.release();
    for (const t of timers) clearInterval(t);
    unlisten();
    deps.onClose.delete(finish);
    res.end();
  };
  req.on("close", finish);

  // Reads everything after `last` from Postgres, in seq order; one read at a time, and a signal
  // that arrives during a read triggers one more, so nothing is missed and nothing sent twice.
  const pump = async (): Promise<void> => {
    do {
      again = false;
      const events = await listEvents(deps.db, jobId, last, PAGE);
      for (const event of await render(tenantId, events)) {
        if (closed) return;
        res.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
        last = BigInt(event.seq);
        if (isTerminalEvent(event.type)) {
          finish();
          return;
        }
      }
      if (events.length === PAGE) again = true;
    } while (again && !closed);
  };
  const kick = () => {
    if (closed) return;
    if (running !== null) {
      again = true;
      return;
    }
    running = pump()
      .catch((error: unknown) => {
        res.locals.log?.warn({ err: error, job_id: jobId }, "event stream read failed");
      })
      .finally(() => {
        running = null;
        if (again) kick();
      });
  };

  const stopListening = await deps.signals.listen(jobId, kick);
  if (closed) {
    stopListening(); // the client left while we subscribed
    return;
  }
  unlisten = stopListening;
  timers.push(setInterval(kick, deps.config.eventsFallbackPollMs));
  timers.push(setInterval(() => res.write(": keep-alive\n\n"), deps.config.env.SSE_KEEPALIVE_MS));
  // On shutdown the stream ends (at once if the stop already began); the `retry:` hint sent first
  // tells the client when to reconnect.
  deps.onClose.add(finish);
  kick();
  await running;
  // A client that already has everything up to and including the end gets an immediate close.
  if (!closed && terminalNow) {
    const rest = await listEvents(deps.db, jobId, last, 1);
    if (rest.length === 0) finish();
  }
}
