import { createServer, type Server } from "node:http";
import type { Env } from "@darkroom/config";
import { createPrismaClient } from "@darkroom/db";
import { ImageUrlSigner } from "@darkroom/domain";
import type { Logger } from "@darkroom/logger";
import {
  createGenerationQueue,
  createPipelinedConnection,
  createRedisConnection,
  FairIntake,
  JobEventSignals,
  readUpstreamQuota,
} from "@darkroom/queue";
import { LocalDiskStorage } from "@darkroom/storage";
import type { Express } from "express";
import { createApp } from "./app";
import { type ApiConfig, buildApiConfig } from "./config";
import type { ApiDeps } from "./deps";
import { AuthFailureLimiter } from "./http/auth-failures";
import { EventHub } from "./http/event-hub";
import { JobEstimates } from "./http/job-estimates";
import { ApiKeyCache } from "./http/key-cache";
import { KeyRateLimiter } from "./http/key-rate-limit";
import { ApiMetrics } from "./http/metrics";
import { answerClientError } from "./http/problem";
import { RedeliveryLimiter } from "./http/redelivery-limit";
import { renderEvents } from "./http/render-events";
import { ShutdownHooks } from "./http/shutdown";
import { StreamSlots } from "./http/stream-slots";

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
  // Under contention requests queue for a connection: they slow down rather than fail. A refused
  // connection (Postgres down) still fails at once; only a Postgres that hangs is waited for this long.
  const db = createPrismaClient({
    databaseUrl: env.DATABASE_URL,
    poolSize: env.DATABASE_POOL_SIZE ?? 20,
    acquireTimeoutMs: 30_000,
  });
  // The commands that concurrent requests issue in one tick (rate-limit counts, enqueues) leave in
  // one write. Only short non-blocking commands run here; BullMQ's queue has its own connection.
  const redis = createPipelinedConnection(env.REDIS_URL, "producer");
  redis.on("error", (err) => logger.warn({ err: err.message }, "redis connection error"));
  const queueRedis = createRedisConnection(env.REDIS_URL, "producer");
  queueRedis.on("error", (err) => logger.warn({ err: err.message }, "redis connection error (queue)"));
  // The producer connection fails fast instead of queueing commands, so give it a moment to connect
  // before taking requests; with Redis down the API starts anyway (jobs are still accepted).
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 3000);
    redis.once("ready", () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const queue = createGenerationQueue(queueRedis, env.QUEUE_PREFIX);
  queue.on("error", (err) => logger.warn({ err: err.message }, "queue error"));
  const signals = new JobEventSignals(env.REDIS_URL, env.QUEUE_PREFIX);
  const apiKeys = new ApiKeyCache(env.REDIS_URL, env.QUEUE_PREFIX);
  const intake = new FairIntake(redis, env.QUEUE_PREFIX);
  const metrics = new ApiMetrics(db, queue, intake, () => readUpstreamQuota(redis, env.QUEUE_PREFIX));
  const signer = new ImageUrlSigner(
    () => config.publicBaseUrl,
    config.imageUrlSecret,
    config.imageUrlTtlSeconds,
    config.imageUrlWebhookWindowSeconds,
  );
  const hub = new EventHub({
    db,
    signals,
    pollMs: config.eventsFallbackPollMs,
    render: (tenantId, events) => renderEvents({ db, signer }, tenantId, events),
    logger,
    onRead: (read) => metrics.eventReads.inc({ read }),
    onFeeds: (open) => metrics.eventFeeds.set(open),
  });
  const deps: ApiDeps = {
    config,
    db,
    redis,
    queue,
    intake,
    estimates: new JobEstimates(db, intake, logger),
    signals,
    hub,
    onClose: new ShutdownHooks(),
    metrics,
    storage: new LocalDiskStorage(env.STORAGE_DIR),
    signer,
    logger,
    apiKeys,
    streamSlots: new StreamSlots(redis, env.QUEUE_PREFIX, env.MAX_STREAMS_PER_KEY, logger),
    authFailures: new AuthFailureLimiter(redis, env.QUEUE_PREFIX, env.AUTH_FAILURES_PER_MINUTE, logger),
    keyRateLimit: new KeyRateLimiter(redis, env.QUEUE_PREFIX, logger),
    redeliveries: new RedeliveryLimiter(redis, env.QUEUE_PREFIX, env.WEBHOOK_REDELIVERIES_PER_MINUTE, logger),
  };
  const app = createApp(deps);
  // requestTimeout covers receiving the request only (headers and body), never the response, so
  // event streams outlive it; headers and request timeouts are enforced on Node's connection sweep,
  // which is made frequent enough for them.
  const server = createServer(
    {
      headersTimeout: env.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeout: env.HTTP_REQUEST_TIMEOUT_MS,
      keepAliveTimeout: env.HTTP_KEEPALIVE_TIMEOUT_MS,
      connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(env.HTTP_HEADERS_TIMEOUT_MS / 4))),
    },
    app,
  );
  server.maxConnections = env.HTTP_MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => {
      server.off("error", reject);
      resolve();
    });
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
      deps.streamSlots.close();
      hub.close();
      await queue.close().catch(() => undefined);
      signals.close();
      apiKeys.close();
      queueRedis.disconnect();
      redis.disconnect();
      await db.$disconnect();
    },
  };
}
