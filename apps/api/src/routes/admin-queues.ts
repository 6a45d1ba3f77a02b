import { createHmac, timingSafeEqual } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ExpressAdapter } from "@bull-board/express";
import { AppError, isProcessAlive } from "@darkroom/domain";
import { QUEUES } from "@darkroom/queue";
import { Queue } from "bullmq";
import { type Request, type RequestHandler, Router } from "express";
import helmet from "helmet";
import type { ApiDeps } from "../deps";
import { bearerToken } from "../http/context";

/** Where Bull Board lives, and the path its session cookie is limited to. */
export const QUEUES_PATH = "/admin/queues";
const COOKIE = "darkroom_queues";
const SESSION_SECONDS = 12 * 3600;

/** The cookie's value: an HMAC of the admin token (never the token itself), so it changes with it. */
function sessionValue(adminToken: string): string {
  return createHmac("sha256", adminToken).update("darkroom bull board session").digest("base64url");
}

function cookieOf(req: Request, name: string): string | null {
  for (const part of (req.get("cookie") ?? "").split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return rest.join("=");
  }
  return null;
}

const same = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** The views folders of this process's APIs still running: removed when each closes, or at exit. */
const viewFolders = new Set<string>();
process.once("exit", () => {
  for (const dir of viewFolders) rmSync(dir, { recursive: true, force: true });
});

function removeViews(dir: string): void {
  viewFolders.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}

/** Views folders are named `darkroom-bull-board-<pid of the API's process>-<random>`. */
const VIEWS_PREFIX = "darkroom-bull-board-";
const VIEWS_OF_PID = new RegExp(`^${VIEWS_PREFIX}(\\d+)-`);

/**
 * Removes the views folders of APIs whose process is gone without its exit handlers (killed with
 * SIGKILL, out of memory): each API that starts clears what dead ones left. A folder whose process
 * runs is kept, and so is one without a pid in its name.
 */
function sweepDeadViews(): void {
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const pid = VIEWS_OF_PID.exec(name)?.[1];
    if (pid === undefined || isProcessAlive(Number(pid))) continue;
    try {
      rmSync(path.join(tmpdir(), name), { recursive: true, force: true });
    } catch {
      // Another user's, or removed meanwhile: not ours to insist on.
    }
  }
}

/**
 * Bull Board's page without the web font it would load from Google: nothing of the operator's
 * console is fetched from elsewhere (and the CSP below would refuse it). The page goes to a folder
 * of the API's own (a fresh name, readable by its user only: the page is a template the API
 * runs), removed when the API closes or its process exits, or by the next API to start when its
 * process was killed.
 */
function localViews(): string {
  const uiDist = path.join(path.dirname(createRequire(import.meta.url).resolve("@bull-board/ui/package.json")), "dist");
  sweepDeadViews();
  const dir = mkdtempSync(path.join(tmpdir(), `${VIEWS_PREFIX}${process.pid}-`));
  viewFolders.add(dir);
  const page = readFileSync(path.join(uiDist, "index.ejs"), "utf8").replace(
    /<link href="https:\/\/fonts\.googleapis\.com[^>]*>\s*/g,
    "",
  );
  writeFileSync(path.join(dir, "index.ejs"), page);
  return dir;
}

/**
 * Bull Board at /admin/queues (read-only: Postgres is the record of jobs, so acting on a job goes
 * through the console), behind the admin token: `Authorization: Bearer`, or the session cookie
 * that `POST /admin/api/session` sets for a browser (HttpOnly, SameSite=Strict, this path only).
 */
export function adminQueuesRouter(deps: ApiDeps): Router {
  const router = Router();
  const { env } = deps.config;
  const expected = sessionValue(deps.config.adminToken);

  router.post("/admin/api/session", (req, res) => {
    const secure = req.secure ? "; Secure" : "";
    res.setHeader(
      "Set-Cookie",
      `${COOKIE}=${expected}; Path=${QUEUES_PATH}; HttpOnly; SameSite=Strict; Max-Age=${SESSION_SECONDS}${secure}`,
    );
    res.status(204).end();
  });
  router.delete("/admin/api/session", (_req, res) => {
    res.setHeader("Set-Cookie", `${COOKIE}=; Path=${QUEUES_PATH}; HttpOnly; SameSite=Strict; Max-Age=0`);
    res.status(204).end();
  });

  const allowed: RequestHandler = (req, _res, next) => {
    const token = bearerToken(req);
    const cookie = cookieOf(req, COOKIE);
    if ((token !== null && same(token, deps.config.adminToken)) || (cookie !== null && same(cookie, expected))) {
      next();
      return;
    }
    throw new AppError(
      "unauthorized",
      "The queues need the admin token: sign in to the dashboard (it opens a session for this page) or send `Authorization: Bearer <ADMIN_TOKEN>`.",
    );
  };
  // Bull Board's UI styles its elements inline and writes a <style>: only styles are let inline.
  const csp = helmet.contentSecurityPolicy({
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", "data:"],
      fontSrc: ["'self'", "data:"],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
  });

  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(QUEUES_PATH);
  // The generation queue is the API's own (deps.queue); the others are opened here, and closed with the API.
  const opened = Object.values(QUEUES)
    .filter((q) => q.name !== deps.queue.name)
    .map((q) => new Queue(q.name, { connection: deps.redis, prefix: env.QUEUE_PREFIX }));
  createBullBoard({
    queues: [deps.queue, ...opened].map((q) => new BullMQAdapter(q, { readOnlyMode: true })),
    serverAdapter,
    options: { uiConfig: { boardTitle: "Darkroom queues" } },
  });
  const views = localViews();
  serverAdapter.setViewsPath(views);
  deps.onClose.add(() => {
    for (const q of opened) void q.close().catch(() => undefined);
    removeViews(views);
  });
  router.use(QUEUES_PATH, allowed, csp, serverAdapter.getRouter() as RequestHandler);
  return router;
}
