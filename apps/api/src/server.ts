import type { Server } from "node:http";
import type { Env } from "@darkroom/config";
import { createPrismaClient } from "@darkroom/db";
import { ImageUrlSigner } from "@darkroom/domain";
import type { Logger } from "@darkroom/logger";
import { createGenerationQueue, createRedisConnection, JobEventSignals } from "@darkroom/queue";
import { LocalDiskStorage } from "@darkroom/storage";
import type { Express } from "express";
import { createApp } from "./app";
import { type ApiConfig, buildApiConfig } from "./config";
import type { ApiDeps } from "./deps";
import { ApiKeyCache } from "./http/key-cache";
import { ApiMetrics } from "./http/metrics";
import { answerClientError } from "./http/problem";
import { ShutdownHooks } from "./http/shutdown";

export interface RunningApi {
  config: ApiConfig;
  app: Express;
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** Builds the API's dependencies and listens. `close()` stops accepting, then releases connections. */
export async function startApi(env: Env, logger: Logger): Promise<RunningApi> {
  const config = buildApiConfig(env);
  const db = createPrismaClient({ databaseUrl: env.DATABASE_URL });
  const redis = createRedisConnection(env.REDIS_URL, "producer");
  redis.on("error", (err) => logger.warn({ err: err.message }, "redis connection error"));
  // The producer connection fails fast instead of queueing commands, so give it a moment to connect
  // before taking requests; with Redis down the API starts anyway (jobs are still accepted).
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 3000);
    redis.once("ready", () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const queue = createGenerationQueue(redis, env.QUEUE_PREFIX);
  queue.on("error", (err) => logger.warn({ err: err.message }, "queue error"));
  const signals = new JobEventSignals(env.REDIS_URL, env.QUEUE_PREFIX);
  const apiKeys = new ApiKeyCache(env.REDIS_URL, env.QUEUE_PREFIX);
  const deps: ApiDeps = {
    config,
    db,
    redis,
    queue,
    signals,
    onClose: new ShutdownHooks(),
    metrics: new ApiMetrics(db, queue),
    storage: new LocalDiskStorage(env.STORAGE_DIR),
    signer: new ImageUrlSigner(() => config.publicBaseUrl, config.imageUrlSecret, config.imageUrlTtlSeconds),
    logger,
    apiKeys,
  };
  const app = createApp(deps);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.port, config.host, (error?: Error) => (error ? reject(error) : resolve(s)));
  });
  server.on("clientError", answerClientError);
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : config.port;
  // With PORT=0 the real port is known only now.
  if (env.PUBLIC_BASE_URL === undefined) config.publicBaseUrl = `http://${config.host}:${port}`;
  return {
    config,
    app,
    server,
    url: `http://${config.host}:${port}`,
    async close() {
      deps.onClose.trigger();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Requests in progress finish; a connection is closed as soon as it is idle (ended event
        // streams leave keep-alive sockets behind, which would otherwise hold the close for seconds).
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        server.once("close", () => clearInterval(sweep));
        server.closeIdleConnections();
      });
      await queue.close().catch(() => undefined);
      signals.close();
      apiKeys.close();
      redis.disconnect();
      await db.$disconnect();
    },
  };
}
