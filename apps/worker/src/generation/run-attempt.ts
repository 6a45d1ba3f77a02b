import type { ClaimedJob, StoredImageInput } from "@darkroom/db";
import type { ImageQuality, ImageSize, ProgressStage } from "@darkroom/domain";
import {
  downloadImage,
  generateImages,
  type ProgressSnapshot,
  streamChatImage,
  UpstreamError,
} from "@darkroom/upstream";
import type { Dispatcher } from "undici";
import type { WorkerConfig } from "../config";
import type { ProgressState } from "./attempt-ticker";
import { FALLBACK_MODEL } from "./policy";

export interface AttemptOutcome {
  images: StoredImageInput[];
  usage: unknown;
  upstreamRequestId: string | null;
  timeToFirstByteMs: number | null;
  httpStatus: number | null;
}

export interface AttemptContext {
  job: ClaimedJob;
  model: string;
  config: WorkerConfig;
  signal: AbortSignal;
  /** The process's keep-alive pool to the upstream (its connect timeout is UPSTREAM_CONNECT_TIMEOUT_MS). */
  dispatcher: Dispatcher;
  /** The pool of result-image downloads, with the address guard (image-dispatcher.ts). */
  imageDispatcher: Dispatcher;
  onProgress: (state: ProgressState) => void;
  /**
   * The upstream's response began (headers in), this long after the call: recorded on the attempt
   * whatever its end (failed, canceled, interrupted), not only with a result.
   */
  onFirstByte: (timeToFirstByteMs: number) => void;
  /** Validates and stores one image (the caller keeps track, to remove them if the attempt is fenced out). */
  store: (index: number, bytes: Buffer, sourceUrl: string | null) => Promise<StoredImageInput>;
}

/** Upstream progress -> the job's progress. 100 is reserved for a stored result. */
export function toProgress(snapshot: ProgressSnapshot): ProgressState {
  const map: Record<ProgressSnapshot["stage"], ProgressStage> = {
    waiting: "starting",
    queuing: "queuing_upstream",
    generating: "generating",
    complete: "storing",
  };
  const stage = map[snapshot.stage];
  const percent = stage === "storing" ? 99 : Math.min(99, Math.max(0, snapshot.percent ?? 0));
  return { stage, percent };
}

const IMAGE_GET_RETRIES = 3;
const IMAGE_GET_BASE_DELAY_MS = 250;

/**
 * The generated image is already paid for, so its GET is retried (up to 3 times, with backoff)
 * before the attempt is given up; then only the fallback model can help (row 17).
 */
async function downloadWithRetries(url: string, ctx: AttemptContext) {
  const { config, signal } = ctx;
  let lastError: unknown;
  for (let retry = 0; retry <= IMAGE_GET_RETRIES; retry++) {
    if (retry > 0) await sleep(IMAGE_GET_BASE_DELAY_MS * 2 ** (retry - 1), signal);
    try {
      return await downloadImage(url, {
        allowlist: config.images.allowlist,
        allowPrivate: config.images.allowPrivate,
        maxBytes: config.images.maxBytes,
        timeoutMs: config.images.downloadTimeoutMs,
        signal,
        dispatcher: ctx.imageDispatcher,
      });
    } catch (error) {
      if (signal.aborted) throw error;
      lastError = error;
      // A host outside the allowlist, or a scheme, port or address refused, will not change its mind.
      if (error instanceof UpstreamError && /allowlist| refused: /i.test(error.message)) break;
    }
  }
  const base = lastError instanceof UpstreamError ? lastError : undefined;
  throw new UpstreamError({
    code: "result_unavailable",
    errorClass: "result_fetch",
    message: `The generated image could not be downloaded: ${base?.message ?? "the download failed."}`,
    detail: base?.detail ?? (base === undefined ? String(lastError) : undefined),
    retryable: false,
    fallback: true,
    httpStatus: base?.httpStatus,
    requestId: base?.requestId,
    cause: lastError,
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** One upstream call of one attempt, through to stored images. Throws UpstreamError on failure. */
export function runAttempt(ctx: AttemptContext): Promise<AttemptOutcome> {
  return ctx.model === FALLBACK_MODEL ? runImagesApi(ctx) : runChatStream(ctx);
}

/** gpt-image-1 on /v1/images/generations: base64 images, no progress to report. */
async function runImagesApi(ctx: AttemptContext): Promise<AttemptOutcome> {
  const { job, config, signal } = ctx;
  ctx.onProgress({ stage: "generating", percent: 0 });
  // UPSTREAM_CONNECT_TIMEOUT_MS holds for the fallback call too: it goes through the worker's
  // upstream pool, not undici's global one (whose connect timeout is a fixed 10 s).
  const result = await generateImages({
    baseUrl: config.upstream.baseUrl,
    apiKey: config.upstream.apiKey,
    prompt: job.prompt,
    n: job.n,
    size: job.size as ImageSize,
    quality: job.quality as ImageQuality,
    signal,
    timeoutMs: Math.max(1000, job.deadlineAt.getTime() - Date.now()),
    dispatcher: ctx.dispatcher,
    onFirstByte: ctx.onFirstByte,
  });
  if (result.images.length < job.n) {
    throw new UpstreamError({
      code: "no_image",
      errorClass: "bad_fallback_result",
      message: `The images API returned ${result.images.length} of ${job.n} images.`,
      retryable: true,
      fallback: false,
      requestId: result.requestId,
    });
  }
  ctx.onProgress({ stage: "storing", percent: 99 });
  const images: StoredImageInput[] = [];
  for (const [index, bytes] of result.images.slice(0, job.n).entries()) {
    images.push(await ctx.store(index, bytes, null));
  }
  return {
    images,
    usage: result.usage,
    upstreamRequestId: result.requestId ?? null,
    timeToFirstByteMs: result.timeToFirstByteMs,
    httpStatus: result.httpStatus,
  };
}

/** gpt-4o-image over chat SSE: progress from the text, then the images downloaded from their host. */
async function runChatStream(ctx: AttemptContext): Promise<AttemptOutcome> {
  const { job, config, signal } = ctx;
  const result = await streamChatImage({
    baseUrl: config.upstream.baseUrl,
    apiKey: config.upstream.apiKey,
    model: ctx.model,
    prompt: job.prompt,
    n: job.n,
    size: job.size as ImageSize,
    signal,
    connectTimeoutMs: config.upstream.connectTimeoutMs,
    firstByteTimeoutMs: config.upstream.firstByteTimeoutMs,
    idleTimeoutMs: config.upstream.idleTimeoutMs,
    progressStallMs: config.upstream.progressStallMs,
    dispatcher: ctx.dispatcher,
    onProgress: (snapshot) => ctx.onProgress(toProgress(snapshot)),
    onFirstByte: ctx.onFirstByte,
  });
  if (result.imageUrls.length < job.n) {
    throw new UpstreamError({
      code: "no_image",
      errorClass: "no_image",
      message: `The upstream finished with ${result.imageUrls.length} of ${job.n} images.`,
      retryable: false,
      fallback: true,
      requestId: result.requestId,
      httpStatus: result.httpStatus,
    });
  }
  ctx.onProgress({ stage: "storing", percent: 99 });
  const images: StoredImageInput[] = [];
  for (const [index, url] of result.imageUrls.slice(0, job.n).entries()) {
    const downloaded = await downloadWithRetries(url, ctx);
    images.push(await ctx.store(index, downloaded.bytes, url));
  }
  return {
    images,
    usage: result.usage,
    upstreamRequestId: result.requestId ?? null,
    timeToFirstByteMs: result.timeToFirstByteMs,
    httpStatus: result.httpStatus,
  };
}
