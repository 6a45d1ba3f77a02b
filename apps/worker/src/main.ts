import { loadEnvOrExit } from "@darkroom/config";
import { createLogger } from "@darkroom/logger";
import { startWorker } from "./worker";

const env = loadEnvOrExit();
const logger = createLogger({ name: "worker", level: env.LOG_LEVEL, pretty: env.NODE_ENV === "development" });
const worker = await startWorker(env, logger);

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "worker stopping");
  const force = setTimeout(() => process.exit(1), env.SHUTDOWN_GRACE_MS).unref();
  await worker.close();
  clearTimeout(force);
  process.exit(0);
};
process.on("SIGTERM", () => void stop("SIGTERM"));
process.on("SIGINT", () => void stop("SIGINT"));
