import type { Env } from "@darkroom/config";
import { createPrismaClient } from "@darkroom/db";
import type { Logger } from "@darkroom/logger";
import { createRedisConnection, QUEUES } from "@darkroom/queue";
import { LocalDiskStorage } from "@darkroom/storage";
import { Worker } from "bullmq";
import { buildWorkerConfig, type WorkerConfig } from "./config";
import { createGenerationProcessor } from "./generation/processor";

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
  const worker = new Worker(QUEUES.generation.name, createGenerationProcessor({ db, storage, config, logger }), {
    connection,
    prefix: env.QUEUE_PREFIX,
    concurrency: config.concurrency,
    // Stall checks stay on (design section 9): a crashed worker's jobs come back.
    maxStalledCount: 3,
  });
  worker.on("error", (err) => logger.warn({ err: err.message }, "worker error"));
  worker.on("failed", (job, err) => logger.warn({ job_id: job?.id, err: err.message }, "bullmq job failed"));
  await worker.waitUntilReady();
  logger.info({ concurrency: config.concurrency, upstream: config.upstream.baseUrl }, "worker ready");
  return {
    config,
    async close() {
      const grace = new Promise<void>((resolve) => setTimeout(resolve, env.SHUTDOWN_GRACE_MS).unref());
      await Promise.race([worker.close(), grace]);
      await worker.close(true).catch(() => undefined);
      connection.disconnect();
      await db.$disconnect();
    },
  };
}
