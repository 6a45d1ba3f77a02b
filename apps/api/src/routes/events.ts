import { findJobForTenant, isTerminalEvent, listEvents } from "@darkroom/db";
import { AppError, isId, isTerminal } from "@darkroom/domain";
import { type Request, type Response, Router } from "express";
import type { ApiDeps } from "../deps";
import { apiKeyOf, tenantOf } from "../http/context";
import {
  EVENT_PAGE,
  type FeedEvent,
  type FeedMembership,
  isAhead,
  type ProgressMark,
  progressOf,
  toFeedEvents,
} from "../http/event-hub";
import { renderEvents } from "../http/render-events";

function parseSeq(value: unknown, name: string): bigint {
  if (value === undefined || value === "") return 0n;
  if (typeof value !== "string" || !/^\d{1,18}$/.test(value)) {
    throw new AppError("validation_failed", `${name} must be an event seq (a whole number).`, {
      errors: [{ path: name, message: "must be a whole number" }],
    });
  }
  return BigInt(value);
}

function parseLive(value: unknown): boolean {
  if (value === undefined || value === "true") return true;
  if (value === "false") return false;
  throw new AppError("validation_failed", "live must be true or false.", {
    errors: [{ path: "live", message: "must be true or false" }],
  });
}

/**
 * `GET /v1/jobs/{id}/events`: the job's event log. As SSE it replays from `Last-Event-ID`, follows
 * live and ends after the terminal event; otherwise one JSON page after `after`.
 */
export function eventsRouter(deps: ApiDeps): Router {
  const router = Router();

  router.get("/v1/jobs/:id/events", async (req, res) => {
    const tenantId = tenantOf(res);
    const job = isId("job", req.params.id) ? await findJobForTenant(deps.db, tenantId, req.params.id) : null;
    if (job === null) throw new AppError("not_found", `No job ${req.params.id}.`);
    if (!(req.get("accept") ?? "").includes("text/event-stream")) {
      const after = parseSeq(req.query.after, "after");
      const events = await listEvents(deps.db, job.id, after, EVENT_PAGE + 1);
      const page = events.slice(0, EVENT_PAGE);
      res.json({
        object: "list",
        data: await renderEvents(deps, tenantId, page),
        has_more: events.length > EVENT_PAGE,
      });
      return;
    }
    const from = parseSeq(
      req.get("last-event-id") ?? req.query.after,
      req.get("last-event-id") === undefined ? "after" : "Last-Event-ID",
    );
    const live = parseLive(req.query.live);
    await streamEvents(deps, req, res, tenantId, job.id, from, isTerminal(job.status), live);
  });

  return router;
}

/**
 * One event stream. A job that is over is replayed from Postgres and the stream ends. Otherwise the
 * stream joins the job's feed (event-hub.ts) at once, holding what the feed hands out while it reads
 * its own gap (from `from` up to the feed's position) from Postgres; then it sends what it held after
 * that gap and follows the feed: every event once, in seq order.
 */
async function streamEvents(
  deps: ApiDeps,
  req: Request,
  res: Response,
  tenantId: string,
  jobId: string,
  from: bigint,
  terminalNow: boolean,
  live: boolean,
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
  let keepAlive: NodeJS.Timeout | undefined;
  let membership: FeedMembership | null = null;
  const finish = () => {
    if (closed) return;
    closed = true;
    slot.release();
    clearInterval(keepAlive);
    membership?.leave();
    deps.onClose.delete(finish);
    res.end();
  };
  req.on("close", finish);
  // On shutdown the stream ends (at once if the stop already began); the `retry:` hint sent first
  // tells the client when to reconnect.
  deps.onClose.add(finish);
  if (closed) return;

  // The furthest progress this client was shown (live or durable): live progress never goes back,
  // and a durable progress it has already seen, or that live progress overtook, comes as its `id:`
  // alone (which moves the client's Last-Event-ID without dispatching an event).
  let shown: ProgressMark | null = null;
  const send = (events: FeedEvent[]) => {
    for (const event of events) {
      if (closed) return;
      if (event.seq <= last) continue;
      const progress = progressOf(event);
      if (live && progress !== null && !isAhead(progress, shown)) {
        res.write(`id: ${event.seq}\n\n`);
      } else {
        res.write(event.frame);
        if (progress !== null) shown = progress;
      }
      last = event.seq;
      if (isTerminalEvent(event.view.type)) {
        finish();
        return;
      }
    }
  };
  /** Reads this stream's own events after `last` until it reaches `until` (null: everything there is). */
  const replay = async (until: () => bigint | null): Promise<void> => {
    for (;;) {
      const target = until();
      if (closed || (target !== null && last >= target)) return;
      deps.metrics.eventReads.inc({ read: "replay" });
      const records = await listEvents(deps.db, jobId, last, EVENT_PAGE);
      if (closed) return;
      send(toFeedEvents(await renderEvents(deps, tenantId, records)));
      // A short page holds everything committed when it was read; anything later reaches the feed.
      if (records.length < EVENT_PAGE) return;
    }
  };

  try {
    if (terminalNow) {
      // A client that already has everything up to and including the end gets an immediate close.
      const before = last;
      await replay(() => null);
      if (last === before) finish();
      if (closed) return;
    }
    let held: FeedEvent[] | null = [];
    membership = deps.hub.join(
      jobId,
      tenantId,
      {
        events: (events) => {
          if (held === null) send(events);
          else held.push(...events);
        },
        // Not while the stream catches up: a progress must not run ahead of the events before it.
        live: (progress) => {
          if (!live || closed || held !== null || !isAhead(progress, shown)) return;
          shown = progress;
          res.write(progress.frame);
        },
      },
      from,
    );
    const joined = membership;
    await joined.ready;
    // The gap up to the feed's position, short of what the feed has already handed this stream
    // (all of it when the stream opened the feed at its own position).
    await replay(() => {
      const position = joined.position();
      const firstHeld = held?.[0]?.seq;
      return firstHeld === undefined || firstHeld > position ? position : firstHeld - 1n;
    });
    const caughtUp = held;
    held = null;
    send(caughtUp);
  } catch (error) {
    // The client reconnects with its Last-Event-ID after the `retry:` delay.
    res.locals.log?.warn({ err: error, job_id: jobId }, "event stream read failed");
    finish();
    return;
  }
  if (!closed) keepAlive = setInterval(() => res.write(": keep-alive\n\n"), deps.config.env.SSE_KEEPALIVE_MS);
}
