import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { AppError } from "@darkroom/domain";
import express, { Router } from "express";
import { dashboardCsp } from "../http/security-headers";

/** Walks up from this module (sources or dist/) to the built dashboard, if there is one. */
function findDashboardDist(): string | null {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, "apps", "dashboard", "dist");
    if (existsSync(path.join(candidate, "index.html"))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/** Serves the built single-page dashboard at /dashboard (its data comes from /admin/api, with the admin token), under its strict CSP. */
export function dashboardRouter(publicBaseUrl: string): Router {
  // strict: otherwise Express 5 matches "/dashboard/" to the "/dashboard" redirect (a loop).
  const router = Router({ strict: true });
  const dist = findDashboardDist();
  router.use("/dashboard", dashboardCsp(publicBaseUrl));
  router.get("/dashboard", (_req, res) => res.redirect(302, "/dashboard/"));
  if (dist === null) {
    router.use("/dashboard/", () => {
      throw new AppError("not_found", "The dashboard is not built: run `npm run build`.");
    });
    return router;
  }
  router.use("/dashboard/", express.static(dist, { index: "index.html", maxAge: "1h" }));
  // Client-side routes: any other path under /dashboard/ gets the app. `root`, not an absolute path:
  // send refuses a path with a dot-folder anywhere in it (a checkout under ~/.local, the test builds
  // in .test-builds), and with `root` it looks only below it.
  router.get(/^\/dashboard\/(?!assets\/).*/, (_req, res) => res.sendFile("index.html", { root: dist }));
  return router;
}
