export { parsePayload, QUEUES, type QueueKey, type QueuePayload } from "./catalog";
export { type ConnectionRole, createRedisConnection } from "./connection";
export {
  createGenerationQueue,
  ENQUEUE_TIMEOUT_MS,
  enqueueGeneration,
  type GenerationQueue,
  withTimeout,
} from "./generation-queue";
export {
  apiKeyRevokedChannel,
  cancelChannel,
  JobEventSignals,
  jobEventsChannel,
  publishApiKeyRevoked,
  publishCancel,
  publishJobEvents,
  type Subscription,
  subscribeCancels,
} from "./signals";
