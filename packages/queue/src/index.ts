export { parsePayload, type QueueKey, type QueuePayload, QUEUES } from "./catalog";
export { type ConnectionRole, createRedisConnection } from "./connection";
export { createGenerationQueue, enqueueGeneration, type GenerationQueue } from "./generation-queue";
