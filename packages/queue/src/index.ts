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
  cancelChannel,
  JobEventSignals,
  jobEventsChannel,
  publishCancel,
  publishJobEvents,
  type Subscription,
  subscribeCancels,
} from "./signals";
