import { AppError } from "@darkroom/domain";
import express, { type Express } from "express";
import type { ApiDeps } from "./deps";
import { requireAdminToken, requireApiKey } from "./http/auth";
import { requestContext } from "./http/context";
import { errorHandler } from "./http/problem";
import { noStore, securityHeaders } from "./http/security-headers";
import { adminRouter } from "./routes/admin";
import { adminActionsRouter } from "./routes/admin-actions";
import { adminDashboardRouter } from "./routes/admin-dashboard";
import { adminQueuesRouter } from "./routes/admin-queues";
import { adminTrendsRouter } from "./routes/admin-trends";
import { dashboardRouter } from "./routes/dashboard";
import { eventsRouter } from "./routes/events";
import { healthRouter } from "./routes/health";
import { imagesRouter } from "./routes/images";
import { jobsRouter } from "./routes/jobs";
import { referenceRouter } from "./routes/reference";
import { usageRouter } from "./routes/usage";
import { webhooksRouter } from "./routes/webhooks";

/** The Express application, with every route and the one problem+json error handler. */
export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable("x-powered-by");
  // No weak ETag (a SHA-1 of every JSON answer, POST ones included): job states change under
  // polls, and a 304 would still build the whole body. Images set their own (their SHA-256).
  app.disable("etag");
  app.set("trust proxy", deps.config.env.TRUST_PROXY);
  app.set("query parser", "simple");
  app.use(requestContext(deps.logger));
  app.use(securityHeaders());
  app.use(deps.metrics.middleware());
  app.use(express.json({ limit: "1mb", strict: false, type: ["application/json", "application/*+json"] }));
  // The API first: a job request walks no admin, dashboard or static layer on its way.
  // Image URLs carry their own signature, so this router authenticates by itself (before the key check).
  app.use(imagesRouter(deps));
  app.use("/v1", requireApiKey(deps));
  app.use(jobsRouter(deps));
  app.use(usageRouter(deps));
  app.use(eventsRouter(deps));
  app.use(webhooksRouter(deps));
  app.use(healthRouter(deps));
  app.use(referenceRouter(deps));
  app.use(dashboardRouter(deps.config.publicBaseUrl));
  app.use("/admin", noStore);
  app.use("/admin/api", requireAdminToken(deps));
  app.use(adminRouter(deps));
  app.use(adminDashboardRouter(deps));
  app.use(adminActionsRouter(deps));
  app.use(adminTrendsRouter(deps));
  app.use(adminQueuesRouter(deps));
  app.use((req, _res) => {
    throw new AppError("not_found", `No route for ${req.method} ${req.path}.`);
  });
  app.use(errorHandler(deps.logger));
  return app;
}
