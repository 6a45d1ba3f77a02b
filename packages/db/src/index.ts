export {
  type AdminJobFilter,
  adminJobConditions,
  adminJobPageSql,
  adminJobsExtent,
  countAdminJobs,
  listAdminJobIds,
  listAdminJobs,
} from "./admin-job-filter";
export {
  type AdminJobRecord,
  findAnyJob,
  findAnyJobs,
  latestEventSeq,
  listEventsAfter,
  type Overview,
  readOverview,
} from "./admin-queries";
export {
  type AttemptFacts,
  type AttemptSkip,
  type Claim,
  type ClaimBatchOptions,
  type ClaimedAttempt,
  type ClaimedJob,
  type ClaimInput,
  type CompleteInput,
  claimJob,
  claimJobs,
  completeJob,
  completeJobs,
  type StoredImageInput,
} from "./attempt-batches";
export {
  type AttemptDiagnosis,
  type AttemptErrorInput,
  type FailAttemptInput,
  failAttempt,
  failHedgedAttempt,
  type ProgressInput,
  type ReleaseReason,
  recordTimesToFirstByte,
  releaseJob,
  renewLeases,
  type StartHedgeInput,
  startHedge,
  writeProgressBatch,
} from "./attempts";
export { CallBatcher } from "./call-batcher";
export { type CreateDbOptions, createPrismaClient, type DbClient, type Prisma, PrismaClient } from "./client";
export {
  type DeliveryOutcome,
  type DeliveryRecord,
  findDeliveryForTenant,
  findDeliveryRoute,
  findDeliveryToSend,
  findDueDeliveries,
  findEventBody,
  listDeliveries,
  presentDelivery,
  recordDeliveryAttempt,
  redeliver,
  storeEventBody,
} from "./deliveries";
export {
  type Actor,
  type AppendEventInput,
  appendEvent,
  insertEventsCte,
  JOB_EVENT_TYPES,
  type JobEventRecord,
  type JobEventType,
  lastEventSeq,
  listEvents,
  type PlannedEvent,
  planEvents,
} from "./events";
export type { Tenant } from "./generated/prisma/client";
export {
  type DevelopmentSecrets,
  type DevelopmentSecretsOptions,
  ensureDevelopmentSecrets,
  INSTANCE_SECRETS_TABLE,
} from "./instance-secrets";
export {
  type CreateJobInput,
  createJob,
  findImage,
  findJobById,
  findJobByIdempotencyKey,
  findJobForTenant,
  IdempotencyKeyTakenError,
  JOB_INCLUDE,
  type JobRecord,
  listJobs,
} from "./jobs";
export {
  DEADLINE_MESSAGE,
  deleteJobsFinishedBefore,
  failExpiredJobs,
  failQueuedPastDeadline,
  findOrphanCandidates,
  findStalledWork,
  type OrphanCandidate,
} from "./maintenance";
export {
  ensureDatabase,
  findMigrationsDir,
  listMigrations,
  MigrationError,
  type MigrationResult,
  migrate,
} from "./migrate";
export { type LiveProgress, presentJob, presentJobForOperator } from "./present";
export { type EventView, isTerminalEvent, presentEvent, TERMINAL_EVENT_TYPES } from "./present-event";
export { failQueueTimeout, failQueueTimeouts, QUEUE_TIMEOUT_MESSAGE } from "./queue-timeout";
export { type DiffSource, diffDatamodels } from "./schema-engine";
export { findEventSnapshots, jobAsOf } from "./snapshot";
export {
  type ApiKeyView,
  addApiKey,
  type CreatedTenant,
  createTenantWithKey,
  findTenant,
  findTenantByApiKey,
  findTenantByKeyHash,
  hashApiKey,
  listApiKeys,
  listTenants,
  presentApiKey,
  presentTenant,
  revokeApiKey,
  rotateWebhookSecret,
  signingSecrets,
  type TenantAuth,
  type TenantSettingsInput,
  type TenantView,
  updateTenantSettings,
} from "./tenants";
export {
  readTrends,
  TREND_WINDOWS,
  type TrendRange,
  type Trends,
  type TrendWindow,
  trendCreatedSql,
  trendDeliveriesSql,
  trendFinishedSql,
  trendRange,
} from "./trends";
export {
  type EnforceLimitsInput,
  enforceUsageLimits,
  type LimitedJob,
  readLimitUsage,
  readTenantLimits,
  readUsageReport,
} from "./usage";
export { cancelJob, retryJob } from "./user-actions";
