import { loadEnvOrExit } from "@darkroom/config";
import { createLogger } from "@darkroom/logger";
import { startWorker } from "./worker";

const env = loadEnvOrExit();
// Asynchronous log writes (createLogger's default): a line per attempt start and end must not
// block the event loop that carries every stream. pino flushes them when the process exits.
const logger = createLogger({ name: "worker", level: env.LOG_LEVEL, pretty: env.NODE_ENV === "development" });
const exit = (code: number): never => process.exit(code);
// startWorker announces "worker ready" when it is done: the handlers below must be in place by
// then, or a stop request right after that kills the process without the graceful path.
const starting = startWorker(env, logger);

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "worker stopping");
  const force = setTimeout(() => {
    // Something would not end in time (a hung Redis or Postgres, a request that never finishes).
    logger.error({ grace_ms: env.SHUTDOWN_GRACE_MS }, "shutdown grace ran out; exiting with work unfinished");
    exit(1);
  }, env.SHUTDOWN_GRACE_MS).unref();
  await (await starting).close();
  clearTimeout(force);
  exit(0);
};
process.on("SIGTERM", () => void stop("SIGTERM"));
process.on("SIGINT", () => void stop("SIGINT"));
await starting;
