import { type Env, imageUrlSecret, imageUrlWebhookWindowSeconds, publicBaseUrl } from "@darkroom/config";
import { createPrismaClient, renewLeases, writeProgressBatch } from "@darkroom/db";
import { ImageUrlSigner, MODELS } from "@darkroom/domain";
import type { Logger } from "@darkroom/logger";
import {
  createGenerationQueue,
  createPipelinedConnection,
  createRedisConnection,
  FairIntake,
  JobEventPublisher,
  publishCancel,
  QUEUES,
  subscribeCancels,
} from "@darkroom/queue";
import { LocalDiskStorage } from "@darkroom/storage";
import { fetchUpstreamQuota } from "@darkroom/upstream";
import { createGuardedDispatcher } from "@darkroom/webhooks";
import { Queue, Worker } from "bullmq";
import { Agent } from "undici";
import { buildWorkerConfig, type WorkerConfig } from "./config";
import { Admitter } from "./generation/admitter";
import { AttemptTicker } from "./generation/attempt-ticker";
import { CircuitBreaker } from "./generation/circuit";
import { CircuitGate } from "./generation/circuit-gate";
import { createImageDispatcher } from "./generation/image-dispatcher";
import { createGenerationProcessor, WorkerShutdown } from "./generation/processor";
import { QuotaGuard } from "./maintenance/quota-guard";
import { applyRetention, reconcile } from "./maintenance/reconciler";
import { startMaintenance } from "./maintenance/scheduler";
import { serveMetrics, WorkerMetrics } from "./metrics";
import { createWebhookProcessor, wakeDelivery } from "./webhooks/delivery";
import { startOutboxSweeper } from "./webhooks/outbox";
import { WebhookSlots } from "./webhooks/slots";

/** A webhook slot's lease outlives the attempt that holds it by this much (its final writes). */
const WEBHOOK_LEASE_MARGIN_MS = 5_000;

export interface RunningWorker {
  config: WorkerConfig;
  close(): Promise<void>;
}

/**
 * Starts the generation worker, the webhook delivery worker, the outbox sweeper and the maintenance
 * schedulers. `close()` stops taking work, aborts in-flight upstream calls and returns their jobs to
 * the queue, then waits (bounded by SHUTDOWN_GRACE_MS) for the handlers to finish their writes.
 */
export async function startWorker(env: Env, logger: Logger): Promise<RunningWorker> {
  const config = buildWorkerConfig(env);
  const db = createPrismaClient({ databaseUrl: env.DATABASE_URL, poolSize: config.databasePoolSize });
  const connection = createRedisConnection(env.REDIS_URL, "worker");
  connection.on("error", (err) => logger.warn({ err: err.message }, "redis connection error"));
  // Signals go on a connection of their own: the worker's blocks on Redis while it waits for work.
  // What the jobs send in one turn of the event loop (event signals, the fair intake's scripts,
  // circuit outcomes) leaves in one write: 0.05-0.4 ms less worker CPU per job in the drain bench.
  const publisher = createPipelinedConnection(env.REDIS_URL, "worker");
  publisher.on("error", () => undefined);
  const signals = new JobEventPublisher(publisher, env.QUEUE_PREFIX);
  const notify = (jobId: string) => signals.publish([jobId]);
  const ticker = new AttemptTicker({
    writeProgress: (rows) => writeProgressBatch(db, rows),
    renewLeases: (leases) => renewLeases(db, leases, config.leaseMs),
    published: (jobIds) => signals.publish(jobIds),
    changed: (jobId, attempt, state) => signals.publishProgress(jobId, attempt, state.percent, state.stage),
    onError: (err, what) => logger.warn({ err }, `${what} batch failed (retried at the next tick)`),
    intervalMs: config.progressIntervalMs,
    leaseEveryMs: Math.floor(config.leaseMs / 3),
  });
  // One keep-alive pool to the upstream for every attempt: a connection is reused across jobs (an
  // aborted call still closes its own). No queueing below the worker's concurrency.
  const upstream = new Agent({
    connect: { timeout: config.upstream.connectTimeoutMs },
    headersTimeout: 0,
    bodyTimeout: 0,
    connections: config.concurrency + 16,
  });
  const imageDownloads = createImageDispatcher(config.images);
  const storage = new LocalDiskStorage(env.STORAGE_DIR);
  const metrics = new WorkerMetrics();
  // Every model's circuit, shared by all workers through Redis (docs/circuit-breaker.md).
  const breaker = new CircuitBreaker(publisher, env.QUEUE_PREFIX, config.circuit, config.workerId);
  const circuit = new CircuitGate({ breaker, logger, models: MODELS, openMs: config.circuit.openMs });
  metrics.watchCircuits(() => breaker.snapshot(MODELS));
  const metricsServer =
    config.metricsPort === null ? null : await serveMetrics(metrics, config.metricsPort, env.HOST, logger);
  const queue = createGenerationQueue(connection, env.QUEUE_PREFIX);
  const inFlight = new Map<string, AbortController>();
  const intake = new FairIntake(publisher, env.QUEUE_PREFIX);
  const admitter = new Admitter({
    intake,
    queue,
    workerId: config.workerId,
    concurrency: config.concurrency,
    logger,
    killAfterAdmit: env.TEST_FAULT === "kill_after_admit",
  });
  // The quota guard watches the real upstream's key (without COMETAPI_KEY the simulator runs).
  const quotaGuard =
    env.COMETAPI_KEY === undefined || env.UPSTREAM_QUOTA_POLL_SECONDS === 0
      ? null
      : new QuotaGuard({
          redis: publisher,
          prefix: env.QUEUE_PREFIX,
          queue,
          logger,
          fetchQuota: () => fetchUpstreamQuota(config.upstream.baseUrl, config.upstream.apiKey),
          pollMs: env.UPSTREAM_QUOTA_POLL_SECONDS * 1000,
          warnBelow: env.UPSTREAM_QUOTA_WARN,
        });
  const cancels = await subscribeCancels(
    env.REDIS_URL,
    env.QUEUE_PREFIX,
    (jobId) => {
      const controller = inFlight.get(jobId);
      if (controller === undefined) return;
      logger.info({ job_id: jobId }, "cancel received: aborting the upstream call");
      controller.abort(new Error("canceled"));
    },
    () => admitter.nudge(),
  );

  const worker = new Worker(
    QUEUES.generation.name,
    createGenerationProcessor({
      db,
      storage,
      config,
      logger,
      inFlight,
      notify,
      rateLimitQueue: (ms) => queue.rateLimit(ms),
      markStarted: (item) => admitter.markStarted(item),
      freeSlot: (item) => admitter.release(item),
      ticker,
      upstream,
      quotaGuard,
      metrics,
      images: imageDownloads,
      circuit,
    }),
    {
      connection,
      prefix: env.QUEUE_PREFIX,
      concurrency: config.concurrency,
      // Stall checks stay on (design section 9): a crashed worker's jobs come back, and the
      // Postgres lease (same length) lets the next claim take them over.
      lockDuration: config.leaseMs,
      stalledInterval: Math.max(1000, Math.floor(config.leaseMs / 2)),
      maxStalledCount: 1000,
      // Manual rate limiting (queue.rateLimit on a 429) needs a limiter; this one never binds.
      limiter: { max: 1_000_000, duration: 1000 },
    },
  );
  worker.on("error", (err) => logger.warn({ err: err.message }, "worker error"));

  const webhookQueue = new Queue(QUEUES.webhooks.name, {
    connection,
    prefix: env.QUEUE_PREFIX,
    defaultJobOptions: QUEUES.webhooks.defaults,
  });
  const secret = imageUrlSecret(env);
  const webhookLeaseMs = env.WEBHOOK_TIMEOUT_MS + WEBHOOK_LEASE_MARGIN_MS;
  const webhookWorker = new Worker(
    QUEUES.webhooks.name,
    createWebhookProcessor({
      db,
      logger,
      queue: webhookQueue,
      dispatcher: createGuardedDispatcher({
        allowPrivate: env.ALLOW_PRIVATE_WEBHOOK_URLS,
        timeoutMs: env.WEBHOOK_TIMEOUT_MS,
      }),
      schedule: env.WEBHOOK_RETRY_SCHEDULE,
      timeoutMs: env.WEBHOOK_TIMEOUT_MS,
      signer:
        secret === null
          ? null
          : new ImageUrlSigner(
              () => publicBaseUrl(env),
              secret,
              env.IMAGE_URL_TTL_SECONDS,
              imageUrlWebhookWindowSeconds(env),
            ),
      publicBaseUrl: publicBaseUrl(env),
      slots: new WebhookSlots(publisher, {
        prefix: env.QUEUE_PREFIX,
        perEndpoint: env.WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT,
        perTenant: env.WEBHOOK_MAX_IN_FLIGHT_PER_TENANT,
        leaseMs: webhookLeaseMs,
        wake: (deliveryId) => wakeDelivery(webhookQueue, deliveryId),
      }),
      parkMs: webhookLeaseMs,
    }),
    { connection, prefix: env.QUEUE_PREFIX, concurrency: env.WEBHOOK_CONCURRENCY },
  );
  webhookWorker.on("error", (err) => logger.warn({ err: err.message }, "webhook worker error"));
  const stopSweeper = startOutboxSweeper(db, webhookQueue, logger, 500);

  const maintenance = await startMaintenance({
    connection,
    prefix: env.QUEUE_PREFIX,
    logger,
    reconcileEveryMs: env.RECONCILE_INTERVAL_MS,
    retentionEveryMs: 3_600_000,
    handlers: {
      reconcile: () =>
        reconcile({
          db,
          queue,
          intake,
          logger,
          notify,
          cancel: (jobId) => void publishCancel(publisher, env.QUEUE_PREFIX, jobId).catch(() => undefined),
        }),
      retention: async () => {
        const removed = await applyRetention(db, storage, env.RETENTION_DAYS);
        if (removed > 0) logger.info({ removed, retention_days: env.RETENTION_DAYS }, "retention removed old jobs");
        return removed;
      },
    },
  });

  await worker.waitUntilReady();
  // Slots are offered only once this worker can take work.
  await admitter.start();
  quotaGuard?.start();
  logger.info({ concurrency: config.concurrency, upstream: config.upstream.baseUrl }, "worker ready");
  return {
    config,
    async close() {
      stopSweeper();
      quotaGuard?.close();
      const closing = Promise.all([admitter.close(), worker.close(), webhookWorker.close(), maintenance.close()]);
      // In-flight upstream calls end now; their handlers give the jobs back to the queue.
      for (const controller of inFlight.values()) controller.abort(new WorkerShutdown());
      // Leave part of the grace for the final writes and disconnects below.
      const graceMs = Math.max(0, env.SHUTDOWN_GRACE_MS - 1500);
      const grace = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), graceMs).unref());
      if ((await Promise.race([closing, grace])) === "timeout") {
        logger.warn("shutdown grace ran out; closing anyway");
        await Promise.all([worker.close(true), webhookWorker.close(true)]).catch(() => undefined);
      }
      ticker.close();
      await metricsServer?.close();
      await upstream.destroy().catch(() => undefined);
      await imageDownloads.destroy().catch(() => undefined);
      await cancels.close();
      await webhookQueue.close();
      await queue.close();
      publisher.disconnect();
      connection.disconnect();
      await db.$disconnect();
    },
  };
}
