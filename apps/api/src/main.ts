import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadEnvOrExit } from "@darkroom/config";
import { findMigrationsDir, migrate } from "@darkroom/db";
import { createLogger, stopOnSignals } from "@darkroom/logger";
import { announceListening, isApiClusterProcess, runApiPrimary } from "./cluster";
import { printGeneratedAdminToken } from "./config";
import { startApi } from "./server";

const env = loadEnvOrExit();
const logger = createLogger({ name: "api", level: env.LOG_LEVEL, pretty: env.NODE_ENV === "development" });

if (isApiClusterProcess()) {
  // One of the processes of the primary below: it migrated before starting them.
  await serve();
} else {
  // The API role migrates at start; the advisory lock in the runner makes concurrent starts safe.
  const migrations = await migrate(
    env.DATABASE_URL,
    await findMigrationsDir(path.dirname(fileURLToPath(import.meta.url))),
  );
  if (migrations.applied.length > 0) logger.info({ applied: migrations.applied }, "migrations applied");
  if (env.API_PROCESSES > 1) runApiPrimary(env, logger);
  else await serve();
}

async function serve(): Promise<void> {
  const api = await startApi(env, logger);

  stopOnSignals(logger, "api", env.SHUTDOWN_GRACE_MS, () => api.close());

  // Announced only now that the stop handlers are in place: a SIGTERM right after "api listening"
  // must take the graceful path, not the default one that kills the process.
  if (isApiClusterProcess()) {
    // The primary announces the API once all its processes listen. (node:cluster ends a process
    // whose primary is gone: nothing would hand it connections any more.)
    logger.info({ url: api.url }, "api process listening");
    announceListening(api.url);
    return;
  }
  logger.info({ url: api.url }, "api listening");
  printGeneratedAdminToken(api.config);
}
