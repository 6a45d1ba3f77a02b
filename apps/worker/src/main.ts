import { loadEnvOrExit } from "@darkroom/config";
import { createLogger, stopOnSignals } from "@darkroom/logger";
import { startWorker } from "./worker";

const env = loadEnvOrExit();
// Asynchronous log writes (createLogger's default): a line per attempt start and end must not
// block the event loop that carries every stream. pino flushes them when the process exits.
const logger = createLogger({ name: "worker", level: env.LOG_LEVEL, pretty: env.NODE_ENV === "development" });
// startWorker announces "worker ready" when it is done: the handlers below must be in place by
// then, or a stop request right after that kills the process without the graceful path.
const starting = startWorker(env, logger);

stopOnSignals(logger, "worker", env.SHUTDOWN_GRACE_MS, async () => (await starting).close());
await starting;
