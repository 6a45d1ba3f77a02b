import type { Logger } from "@darkroom/logger";
import { QUEUES } from "@darkroom/queue";
import { type Job, Queue, Worker } from "bullmq";
import type { Redis } from "ioredis";

export const RECONCILER_SCHEDULER_ID = "darkroom-reconciler";
export const RETENTION_SCHEDULER_ID = "darkroom-retention";

export interface MaintenanceOptions {
  connection: Redis;
  prefix: string;
  logger: Logger;
  reconcileEveryMs: number;
  retentionEveryMs: number;
  handlers: { reconcile: () => Promise<unknown>; retention: () => Promise<unknown> };
}

/**
 * One scheduled BullMQ job per task, whatever the number of workers: every worker upserts the
 * schedulers under fixed ids (idempotent), and checks every few seconds that they still exist, so
 * they come back by themselves after Redis lost its data.
 */
export async function startMaintenance(options: MaintenanceOptions): Promise<{ close(): Promise<void> }> {
  const queue = new Queue(QUEUES.maintenance.name, { connection: options.connection, prefix: options.prefix });
  const ensure = async () => {
    const wanted = [
      [RECONCILER_SCHEDULER_ID, options.reconcileEveryMs, "reconcile"],
      [RETENTION_SCHEDULER_ID, options.retentionEveryMs, "retention"],
    ] as const;
    for (const [id, every, task] of wanted) {
      const existing = await queue.getJobScheduler(id);
      if (existing !== undefined && existing !== null && Number(existing.every) === every) continue;
      await queue.upsertJobScheduler(id, { every }, { name: task, data: { task }, opts: QUEUES.maintenance.defaults });
    }
  };
  await ensure();
  const timer = setInterval(
    () => {
      ensure().catch((err: unknown) => options.logger.warn({ err }, "maintenance schedulers not checked; retrying"));
    },
    Math.min(5_000, options.reconcileEveryMs),
  );
  const worker = new Worker(
    QUEUES.maintenance.name,
    async (job: Job) => {
      const task = (job.data as { task?: string }).task;
      if (task === "reconcile") return options.handlers.reconcile();
      if (task === "retention") return options.handlers.retention();
      throw new Error(`unknown maintenance task ${String(task)}`);
    },
    { connection: options.connection, prefix: options.prefix, concurrency: 1 },
  );
  worker.on("error", (err) => options.logger.warn({ err: err.message }, "maintenance worker error"));
  return {
    async close() {
      clearInterval(timer);
      await worker.close();
      await queue.close();
    },
  };
}
