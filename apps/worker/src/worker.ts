import { type Env, imageUrlSecret, publicBaseUrl } from "@darkroom/config";
import { createPrismaClient } from "@darkroom/db";
import { ImageUrlSigner } from "@darkroom/domain";
import type { Logger } from "@darkroom/logger";
import {
  createGenerationQueue,
  createRedisConnection,
  publishJobEvents,
  QUEUES,
  subscribeCancels,
} from "@darkroom/queue";
import { LocalDiskStorage } from "@darkroom/storage";
import { createGuardedDispatcher } from "@darkroom/webhooks";
import { Queue, Worker } from "bullmq";
import { buildWorkerConfig, type WorkerConfig } from "./config";
import { createGenerationProcessor } from "./generation/processor";
import { createWebhookProcessor } from "./webhooks/delivery";
import { startOutboxSweeper } from "./webhooks/outbox";

/** Design section 4: a receiver gets 10 s per attempt. */
const WEBHOOK_TIMEOUT_MS = 10_000;

export interface RunningWorker {
  config: WorkerConfig;
  close(): Promise<void>;
}

/** Starts the generation worker. `close()` stops taking work and waits (bounded) for jobs in hand. */
export async function startWorker(env: Env, logger: Logger): Promise<RunningWorker> {
  const config = buildWorkerConfig(env);
  const db = createPrismaClient({ databaseUrl: env.DATABASE_URL, poolSize: Math.min(20, config.concurrency + 2) });
  const connection = createRedisConnection(env.REDIS_URL, "worker");
  connection.on("error", (err) => logger.warn({ err: err.message }, "redis connection error"));
  const storage = new LocalDiskStorage(env.STORAGE_DIR);
  const queue = createGenerationQueue(connection, env.QUEUE_PREFIX);
  const inFlight = new Map<string, AbortController>();
  const cancels = await subscribeCancels(env.REDIS_URL, env.QUEUE_PREFIX, (jobId) => {
    const controller = inFlight.get(jobId);
    if (controller === undefined) return;
    logger.info({ job_id: jobId }, "cancel received: aborting the upstream call");
    controller.abort(new Error("canceled"));
  });
  // Signals go on a connection of their own: the worker's blocks on Redis while it waits for work.
  const publisher = createRedisConnection(env.REDIS_URL, "worker");
  publisher.on("error", () => undefined);
  const notify = (jobId: string) => {
    publishJobEvents(publisher, env.QUEUE_PREFIX, jobId).catch(() => undefined);
  };
  const processor = createGenerationProcessor({
    notify,
    db,
    storage,
    config,
    logger,
    inFlight,
    rateLimitQueue: (ms) => queue.rateLimit(ms),
  });
  const worker = new Worker(QUEUES.generation.name, processor, {
    connection,
    prefix: env.QUEUE_PREFIX,
    concurrency: config.concurrency,
    // Stall checks stay on (design section 9): a crashed worker's jobs come back.
    maxStalledCount: 3,
    // Manual rate limiting (queue.rateLimit on a 429) needs a limiter; this one never binds.
    limiter: { max: 1_000_000, duration: 1000 },
  });
  worker.on("error", (err) => logger.warn({ err: err.message }, "worker error"));

  const webhookQueue = new Queue(QUEUES.webhooks.name, {
    connection,
    prefix: env.QUEUE_PREFIX,
    defaultJobOptions: QUEUES.webhooks.defaults,
  });
  const secret = imageUrlSecret(env);
  const webhookWorker = new Worker(
    QUEUES.webhooks.name,
    createWebhookProcessor({
      db,
      logger,
      queue: webhookQueue,
      dispatcher: createGuardedDispatcher({
        allowPrivate: env.ALLOW_PRIVATE_WEBHOOK_URLS,
        timeoutMs: WEBHOOK_TIMEOUT_MS,
      }),
      schedule: env.WEBHOOK_RETRY_SCHEDULE,
      timeoutMs: WEBHOOK_TIMEOUT_MS,
      signer: secret === null ? null : new ImageUrlSigner(() => publicBaseUrl(env), secret, env.IMAGE_URL_TTL_SECONDS),
      publicBaseUrl: publicBaseUrl(env),
    }),
    { connection, prefix: env.QUEUE_PREFIX, concurrency: 20 },
  );
  webhookWorker.on("error", (err) => logger.warn({ err: err.message }, "webhook worker error"));
  const stopSweeper = startOutboxSweeper(db, webhookQueue, logger, 500);
  worker.on("failed", (job, err) => logger.warn({ job_id: job?.id, err: err.message }, "bullmq job failed"));
  await worker.waitUntilReady();
  logger.info({ concurrency: config.concurrency, upstream: config.upstream.baseUrl }, "worker ready");
  return {
    config,
    async close() {
      stopSweeper();
      const grace = new Promise<void>((resolve) => setTimeout(resolve, env.SHUTDOWN_GRACE_MS).unref());
      await Promise.race([Promise.all([worker.close(), webhookWorker.close()]), grace]);
      await worker.close(true).catch(() => undefined);
      await webhookWorker.close(true).catch(() => undefined);
      await webhookQueue.close();
      await cancels.close();
      publisher.disconnect();
      await queue.close();
      connection.disconnect();
      await db.$disconnect();
    },
  };
}
