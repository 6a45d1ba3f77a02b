import type { JobsOptions } from "bullmq";
import { z } from "zod";

/** Every queue, each job's payload schema and its default options. Payloads carry ids, never secrets. */
export const QUEUES = {
  generation: {
    name: "generation",
    // `work`: the admission this BullMQ job carries (absent on jobs enqueued before fair admission).
    payload: z.object({ jobId: z.string().regex(/^job_/), work: z.string().regex(/^job_/).optional() }),
    // Retries are Darkroom's own (recorded in Postgres as attempts), so BullMQ runs each job once;
    // the job is removed when done so that the reconciler can re-enqueue the same id later.
    defaults: { attempts: 1, removeOnComplete: true, removeOnFail: { count: 1000 } } satisfies JobsOptions,
  },
  webhooks: {
    name: "webhooks",
    payload: z.object({ deliveryId: z.string().regex(/^whd_/) }),
    // The delivery row is the record; its BullMQ job is removed either way so that the outbox
    // sweep can enqueue a still-pending row again under the same id.
    defaults: { attempts: 1, removeOnComplete: true, removeOnFail: true } satisfies JobsOptions,
  },
  maintenance: {
    name: "maintenance",
    payload: z.object({ task: z.enum(["reconcile", "retention"]) }),
    defaults: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } satisfies JobsOptions,
  },
} as const;

export type QueueKey = keyof typeof QUEUES;
export type QueuePayload<K extends QueueKey> = z.infer<(typeof QUEUES)[K]["payload"]>;

/** Validates a payload read back from Redis (anything in Redis is untrusted input). */
export function parsePayload<K extends QueueKey>(queue: K, data: unknown): QueuePayload<K> {
  return QUEUES[queue].payload.parse(data) as QueuePayload<K>;
}
