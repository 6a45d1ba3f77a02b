export { parsePayload, QUEUES, type QueueKey, type QueuePayload } from "./catalog";
export { type CircuitSnapshot, type CircuitState, circuitKeys, readCircuits } from "./circuit-state";
export { type ConnectionRole, createPipelinedConnection, createRedisConnection } from "./connection";
export {
  type Admission,
  type AdmittedEntry,
  FairIntake,
  type IntakeEntry,
  type IntakeSnapshot,
  intakeChannel,
  intakeScore,
  type JobPriority,
  jobIdOfWork,
  type QueuePlace,
  type QueueState,
  type ReleaseItem,
  type StartItem,
  type TenantShare,
  workIdOf,
} from "./fair";
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
  JobEventPublisher,
  JobEventSignals,
  jobEventsChannel,
  type LiveProgress,
  parseLiveProgress,
  publishApiKeyRevoked,
  publishCancel,
  publishJobEvents,
  publishTenantChanged,
  type Subscription,
  subscribeCancels,
  TENANT_CHANGED_PREFIX,
} from "./signals";
export {
  readUpstreamQuota,
  type UpstreamQuotaState,
  upstreamQuotaKey,
  upstreamQuotaPollLock,
  writeUpstreamQuota,
} from "./upstream-quota";
