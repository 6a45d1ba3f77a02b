export type {
  ErrorCode,
  FieldError,
  JobCreateInput,
  JobErrorCode,
  JobStatus,
  JobView,
  UsageFigures,
  UsageGroup,
  UsageLimitRefusal,
  UsageLimitsView,
  UsageLimitView,
  UsageReport,
  UsageRow,
} from "@darkroom/domain";
export {
  type VerifyWebhookOptions,
  verifyWebhook,
  type WebhookHeaderSource,
  WebhookVerificationError,
  type WebhookVerificationReason,
} from "@darkroom/webhooks";
export { DarkroomClient } from "./client";
export {
  DarkroomError,
  type DarkroomErrorCode,
  type DarkroomErrorInit,
  type DarkroomErrorLimit,
  DarkroomTimeoutError,
  parseRetryAfterSeconds,
} from "./errors";
export { isTerminalEvent } from "./event-stream";
export {
  type CreateJobOptions,
  type CreateJobResult,
  type DarkroomClientOptions,
  type DarkroomEvent,
  type DarkroomEventType,
  type DownloadedImage,
  type EventPage,
  type GetJobOptions,
  type JobPage,
  type ListJobsQuery,
  type StreamEventsOptions,
  TERMINAL_EVENT_TYPES,
  type UsageQuery,
  type WaitForJobOptions,
  type WebhookDelivery,
} from "./types";
