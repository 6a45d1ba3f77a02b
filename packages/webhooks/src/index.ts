export {
  describeForbiddenAddress,
  type ForbiddenAddressKind,
  forbiddenAddressKind,
  isForbiddenAddress,
} from "./address";
export {
  type DeliveryResult,
  MAX_RETRY_AFTER_MS,
  nextRetryDelayMs,
  parseRetryAfter,
  RESPONSE_BODY_LIMIT_BYTES,
  type SendWebhookInput,
  sendWebhook,
} from "./send";
export {
  generateWebhookSecret,
  signWebhook,
  type VerifyWebhookOptions,
  verifyWebhook,
  WEBHOOK_USER_AGENT,
  type WebhookHeaderSource,
  WebhookVerificationError,
  type WebhookVerificationReason,
  webhookHeaders,
} from "./sign";
export {
  BlockedAddressError,
  type CheckWebhookUrlOptions,
  checkWebhookUrl,
  createGuardedDispatcher,
  type GuardedDispatcherOptions,
  type LookupFn,
  type PrivateWebhookUrls,
  type ResolvedAddress,
  type WebhookUrlCheck,
} from "./ssrf";
