export { BUSY_PATTERNS, isBusyText } from "./busy-text";
export {
  aspectRatioForSize,
  buildImagePrompt,
  type ChatImageOptions,
  type ChatImageResult,
  type ImageSizeOption,
  streamChatImage,
} from "./chat-stream";
export { type ChatUsage, STREAM_HEAD_MAX_CHARS } from "./chat-stream-state";
export {
  classifyErrorBody,
  classifyHttpError,
  classifyNetworkError,
  type ErrorEnvelope,
  extractRequestId,
  type HttpErrorInput,
  isNetworkError,
  isPolicyText,
  parseErrorEnvelope,
  parseRetryAfter,
  readErrorObject,
} from "./classify";
export { type DownloadedImage, type DownloadImageOptions, downloadImage, isHostAllowed } from "./image-download";
export { type SniffedImage, sniffImage } from "./image-sniff";
export {
  decodeImageBase64,
  type GenerateImagesOptions,
  type GenerateImagesResult,
  generateImages,
  type ImagesUsage,
} from "./images-client";
export { type ProgressSnapshot, type ProgressStageName, parseProgress, snapshotChanged } from "./progress-parser";
export { fetchUpstreamQuota, parseUpstreamQuota, quotaExhausted, type UpstreamQuota } from "./quota";
export {
  clipDetail,
  isUpstreamError,
  type StallFacts,
  UpstreamError,
  type UpstreamErrorClass,
  type UpstreamErrorInit,
} from "./upstream-error";
