export type { AdminJobView, AdminOverview, ApiKeyView, TenantView } from "./admin-views";
export {
  API_ERROR_CODES,
  AppError,
  type AppErrorOptions,
  type ErrorCode,
  type FieldError,
  isJobErrorCode,
  JOB_ERROR_CODES,
  type JobErrorCode,
  rateLimitedError,
} from "./errors";
export { type IdPrefix, isId, newId, ulid } from "./ids";
export { ImageUrlSigner } from "./image-urls";
export {
  type AttemptView,
  DEFAULT_WEBHOOK_EVENTS,
  hasLoneSurrogate,
  type ImageQuality,
  type ImageSize,
  type ImageView,
  type JobCreate,
  type JobCreateInput,
  JobCreateSchema,
  type JobErrorView,
  type JobListQuery,
  JobListQuerySchema,
  type JobView,
  LONE_SURROGATE_MESSAGE,
  METADATA_MAX_BYTES,
  METADATA_MAX_DEPTH,
  MODELS,
  type Model,
  QUALITIES,
  SIZES,
  WEBHOOK_EVENT_TYPES,
  type WebhookEventType,
} from "./job-schemas";
export {
  isTerminal,
  JOB_STATUSES,
  type JobStatus,
  PROGRESS_STAGES,
  type ProgressStage,
  TERMINAL_STATUSES,
} from "./job-state";
