import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { QUEUES } from "./catalog";

export type GenerationQueue = Queue<{ jobId: string }>;

export function createGenerationQueue(connection: Redis, prefix: string): GenerationQueue {
  return new Queue(QUEUES.generation.name, {
    connection,
    prefix,
    defaultJobOptions: QUEUES.generation.defaults,
  });
}

/**
 * Enqueues a Darkroom job. The BullMQ job id is the Darkroom job id, so enqueueing twice is a
 * no-op while the first is still in Redis.
 */
export async function enqueueGeneration(
  queue: GenerationQueue,
  jobId: string,
  delayMs = 0,
  bullJobId: string = jobId,
): Promise<void> {
  await queue.add(QUEUES.generation.name, { jobId }, { jobId: bullJobId, delay: Math.max(0, delayMs) });
}
