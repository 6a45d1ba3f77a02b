import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { QUEUES } from "./catalog";

export type GenerationQueue = Queue<{ jobId: string; work?: string }>;

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
  await withTimeout(
    queue.add(QUEUES.generation.name, { jobId }, { jobId: bullJobId, delay: Math.max(0, delayMs) }),
    ENQUEUE_TIMEOUT_MS,
    "enqueue",
  );
}

/**
 * BullMQ's `add` does not settle while Redis is unreachable. Callers treat a failed enqueue as
 * "left for the reconciler" (the job is already in Postgres), so it must fail, and fail fast.
 */
export const ENQUEUE_TIMEOUT_MS = 2_000;

/** Rejects when `promise` has not settled within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms (is Redis reachable?)`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
