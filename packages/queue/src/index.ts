export { type CancelSubscription, cancelChannel, publishCancel, subscribeCancels } from "./cancel";
export { parsePayload, QUEUES, type QueueKey, type QueuePayload } from "./catalog";
export { type ConnectionRole, createRedisConnection } from "./connection";
export { createGenerationQueue, enqueueGeneration, type GenerationQueue } from "./generation-queue";
