import { findDueDeliveries, type PrismaClient } from "@darkroom/db";
import type { Logger } from "@darkroom/logger";
import type { Queue } from "bullmq";
import { enqueueDelivery } from "./delivery";

/**
 * Moves due outbox rows (pending deliveries) into the webhook queue. Every worker runs it; the
 * delivery id is the BullMQ id, so a row enqueued by two workers is sent once. Because the rows are
 * committed with their events, a crash anywhere cannot lose a webhook: the next sweep finds it.
 */
export function startOutboxSweeper(db: PrismaClient, queue: Queue, logger: Logger, intervalMs: number): () => void {
  let running = false;
  const sweep = async () => {
    if (running) return;
    running = true;
    try {
      for (const row of await findDueDeliveries(db, 200)) await enqueueDelivery(queue, row.id);
    } catch (error) {
      logger.warn({ err: error }, "webhook outbox sweep failed; retrying");
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void sweep(), intervalMs);
  void sweep();
  return () => clearInterval(timer);
}
