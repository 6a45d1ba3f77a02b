import { createParser } from "eventsource-parser";
import { Agent, type Dispatcher, request } from "undici";
import { ChatStreamState, type ChatUsage } from "./chat-stream-state";
import { classifyErrorBody, classifyHttpError, classifyNetworkError, readErrorObject } from "./classify";
import { discardBody, headerValue, joinUrl, linkedController, readBodyText } from "./http-util";
import type { ProgressSnapshot } from "./progress-parser";
import { UpstreamError, type UpstreamErrorInit } from "./upstream-error";

/** Output sizes Darkroom accepts; chat models get them as an aspect ratio. */
export type ImageSizeOption = "1024x1024" | "1536x1024" | "1024x1536" | "auto";

/** Options of {@link streamChatImage}. */
export interface ChatImageOptions {
  baseUrl: string;
  apiKey: string;
  model: string;
  prompt: string;
  n: number;
  size: ImageSizeOption;
  /** Aborting it cancels the call; see {@link streamChatImage} for what is thrown. */
  signal?: AbortSignal;
  connectTimeoutMs: number;
  /** From sending the request to the response headers. */
  firstByteTimeoutMs: number;
  /** Longest silence between body bytes; `: PING` comments count as bytes. */
  idleTimeoutMs: number;
  /**
   * Longest time the progress (percent or stage) may stand still once the stream has begun; bytes
   * that move nothing (keep-alive comments, more dots on the progress line) do not count. 0 = off.
   */
  progressStallMs?: number;
  onProgress?: (snapshot: ProgressSnapshot) => void;
  /** The response's headers arrived, this long after the request went out (a failure may follow). */
  onFirstByte?: (timeToFirstByteMs: number) => void;
  /** Use this dispatcher instead of a per-call Agent (connect timeout is then the dispatcher's). */
  dispatcher?: Dispatcher;
}

/** A successful gpt-4o-image call. */
export interface ChatImageResult {
  text: string;
  /** Result image URLs, at most `n`. */
  imageUrls: string[];
  declaredN: number | null;
  finishReason: string | null;
  usage: ChatUsage | null;
  requestId: string | undefined;
  timeToFirstByteMs: number;
  httpStatus: number;
}

const RATIOS: Record<ImageSizeOption, string | null> = {
  "1024x1024": "1:1",
  "1536x1024": "3:2",
  "1024x1536": "2:3",
  auto: null,
};

/** Aspect ratio the chat model is asked for, or null for `auto`. */
export function aspectRatioForSize(size: ImageSizeOption): string | null {
  return RATIOS[size];
}

/**
 * The user message sent upstream: the prompt plus one plain sentence with the image count and
 * ratio, e.g. `"\n\n(Generate 2 images, aspect ratio 3:2.)"`. The simulator parses this sentence.
 */
export function buildImagePrompt(prompt: string, n: number, size: ImageSizeOption): string {
  const ratio = aspectRatioForSize(size);
  const count = `Generate ${n} image${n === 1 ? "" : "s"}`;
  return `${prompt}\n\n(${ratio === null ? count : `${count}, aspect ratio ${ratio}`}.)`;
}

function fail(init: UpstreamErrorInit): never {
  throw new UpstreamError(init);
}

function canceled(reason: unknown): UpstreamError {
  return new UpstreamError({
    code: "internal",
    errorClass: "canceled",
    message: "the upstream call was canceled",
    retryable: false,
    fallback: false,
    cause: reason,
  });
}

/**
 * The abort reason of a call that ended: whatever still listens on its signal stops. One shared
 * object, as it says nothing of the call; a new Error per call captured a stack trace per job
 * (1.4 % of the worker's CPU in the drain of `npm run bench`).
 */
const CALL_FINISHED: Error = new Error("upstream call finished");

/**
 * Calls a chat model that draws images (gpt-4o-image) with `stream: true`, reports progress as it
 * arrives and returns the result image URLs.
 *
 * Every failure is thrown as a classified {@link UpstreamError} (upstream-protocol.md, section E).
 * When `signal` aborts, the connection is closed and an `UpstreamError` with `errorClass: "canceled"`
 * (code `internal`, not retryable) is thrown, with the signal's reason as `cause`.
 */
export async function streamChatImage(options: ChatImageOptions): Promise<ChatImageResult> {
  const { signal } = options;
  if (signal?.aborted) throw canceled(signal.reason);
  const { controller, dispose } = linkedController(signal);
  const ownAgent =
    options.dispatcher === undefined
      ? new Agent({ connect: { timeout: options.connectTimeoutMs }, headersTimeout: 0, bodyTimeout: 0 })
      : undefined;
  let timedOut: "first_byte" | "idle" | "stalled" | null = null;
  let timer: NodeJS.Timeout | undefined;
  // The progress watchdog: re-armed only when the percent or the stage moves.
  const stallMs = options.progressStallMs ?? 0;
  let stallTimer: NodeJS.Timeout | undefined;
  let standing: { percent: number | null; stage: string; since: number } = {
    percent: null,
    stage: "waiting",
    since: performance.now(),
  };
  // Both timers are re-armed with `refresh()` (the same Timeout object, rescheduled) rather than a
  // new timer per chunk: thousands of streams each re-arm them every second, and a new Timeout that
  // lives a second is garbage the old generation has to hold (about 20 KB of RSS per stream).
  const armStall = (): void => {
    if (stallMs <= 0) return;
    if (stallTimer !== undefined) {
      stallTimer.refresh();
      return;
    }
    stallTimer = setTimeout(() => {
      timedOut = "stalled";
      controller.abort(new Error("progress stalled"));
    }, stallMs);
  };
  const onProgress = (snapshot: ProgressSnapshot): void => {
    if (snapshot.percent !== standing.percent || snapshot.stage !== standing.stage) {
      standing = { percent: snapshot.percent, stage: snapshot.stage, since: performance.now() };
      if (!snapshot.complete) armStall();
      else {
        clearTimeout(stallTimer);
        stallTimer = undefined;
      }
    }
    options.onProgress?.(snapshot);
  };
  let armedKind: "first_byte" | "idle" | null = null;
  const arm = (ms: number, kind: "first_byte" | "idle"): void => {
    if (timer !== undefined && armedKind === kind) {
      timer.refresh();
      return;
    }
    clearTimeout(timer);
    armedKind = kind;
    timer = setTimeout(() => {
      timedOut = kind;
      controller.abort(new Error(`${kind} timeout`));
    }, ms);
  };
  const started = performance.now();
  const explain = (error: unknown, afterHeaders: boolean, httpStatus?: number): UpstreamError => {
    if (error instanceof UpstreamError) return error;
    if (signal?.aborted) return canceled(signal.reason);
    if (timedOut === "stalled") {
      const stoodMs = Math.round(performance.now() - standing.since);
      return new UpstreamError({
        code: "upstream_stalled",
        errorClass: "progress_stalled",
        message: `The upstream's progress stood at ${standing.percent ?? 0}% (${standing.stage}) for ${Math.round(stoodMs / 1000)} s while the stream stayed open; the call was abandoned.`,
        retryable: true,
        fallback: true,
        httpStatus,
        stall: { percent: standing.percent, stage: standing.stage, stoodMs },
        cause: error,
      });
    }
    if (timedOut === "idle") {
      return new UpstreamError({
        code: "upstream_timeout",
        errorClass: "stalled",
        message: `The upstream sent nothing for ${Math.round(options.idleTimeoutMs / 1000)} s; the call was abandoned.`,
        retryable: false,
        fallback: true,
        httpStatus,
        cause: error,
      });
    }
    if (afterHeaders && timedOut === null) {
      return new UpstreamError({
        code: "stream_truncated",
        errorClass: "truncated",
        message: "The upstream stream broke off before the image was complete.",
        detail: error instanceof Error ? error.message : String(error),
        retryable: false,
        fallback: true,
        httpStatus,
        cause: error,
      });
    }
    return new UpstreamError({ ...classifyNetworkError(error, timedOut !== null), httpStatus });
  };

  try {
    arm(options.firstByteTimeoutMs, "first_byte");
    let response: Dispatcher.ResponseData;
    try {
      response = await request(joinUrl(options.baseUrl, "/v1/chat/completions"), {
        method: "POST",
        dispatcher: options.dispatcher ?? ownAgent,
        signal: controller.signal,
        headers: {
          authorization: `Bearer ${options.apiKey}`,
          "content-type": "application/json",
          accept: "text/event-stream",
        },
        body: JSON.stringify({
          model: options.model,
          messages: [{ role: "user", content: buildImagePrompt(options.prompt, options.n, options.size) }],
          stream: true,
          stream_options: { include_usage: true },
        }),
      });
    } catch (error) {
      throw explain(error, false);
    }
    const timeToFirstByteMs = Math.round(performance.now() - started);
    options.onFirstByte?.(timeToFirstByteMs);
    arm(options.idleTimeoutMs, "idle");
    const { statusCode: httpStatus, headers, body } = response;
    const contentType = (headerValue(headers, "content-type") ?? "").toLowerCase();
    if (httpStatus < 200 || httpStatus >= 300 || contentType.includes("text/html")) {
      const text = await readBodyText(body);
      if (signal?.aborted) throw canceled(signal.reason);
      fail(classifyHttpError({ status: httpStatus, headers, body: text, model: options.model }));
    }
    const state = new ChatStreamState(options.n, httpStatus, onProgress);
    state.requestId = headerValue(headers, "x-request-id");
    if (contentType.includes("application/json")) {
      const text = await readBodyText(body, 8 * 1024 * 1024);
      state.captureRaw(text);
      readJsonAnswer(state, text, httpStatus);
    } else {
      standing = { ...standing, since: performance.now() };
      armStall();
      try {
        await consumeSse(body, state, () => arm(options.idleTimeoutMs, "idle"));
      } catch (error) {
        throw explain(error, true, httpStatus);
      }
    }
    const outcome = state.conclude();
    if (!("imageUrls" in outcome)) fail(outcome);
    return {
      text: state.text,
      imageUrls: outcome.imageUrls,
      declaredN: state.snapshot?.declaredN ?? null,
      finishReason: state.finishReason,
      usage: state.usage,
      requestId: state.requestId,
      timeToFirstByteMs,
      httpStatus,
    };
  } finally {
    clearTimeout(timer);
    clearTimeout(stallTimer);
    dispose();
    if (!controller.signal.aborted) controller.abort(CALL_FINISHED);
    void ownAgent?.destroy().catch(() => {});
  }
}

/** After `[DONE]`, the rest of a response is read (to keep its connection) up to this many bytes... */
const DRAIN_MAX_BYTES = 64 * 1024;
/** ...for at most this long; past either, the connection is closed instead. */
const DRAIN_MAX_MS = 1_000;

/**
 * Reads SSE from the body into `state` until `[DONE]`, a failure, or EOF. Exported for tests.
 * After `[DONE]` the response's end is awaited briefly so that its keep-alive connection goes back
 * to the pool instead of being destroyed.
 */
export async function consumeSse(
  body: AsyncIterable<unknown> & Parameters<typeof discardBody>[0],
  state: ChatStreamState,
  onBytes: () => void,
) {
  const decoder = new TextDecoder("utf-8");
  const parser = createParser({ onEvent: (event) => state.handleEvent(event.event, event.data) });
  let drained = -1;
  let drainTimer: NodeJS.Timeout | undefined;
  try {
    for await (const chunk of body) {
      onBytes();
      if (drained >= 0) {
        drained += (chunk as Buffer).length;
        if (drained > DRAIN_MAX_BYTES) break;
        continue;
      }
      const text = decoder.decode(chunk as Buffer, { stream: true });
      state.captureRaw(text);
      parser.feed(text);
      if (state.failure !== null) break;
      if (state.sawDone) {
        drained = 0;
        drainTimer = setTimeout(() => discardBody(body), DRAIN_MAX_MS);
      }
    }
  } catch (error) {
    // A connection that broke after [DONE] lost nothing.
    if (drained < 0) throw error;
  } finally {
    clearTimeout(drainTimer);
  }
  if (!state.finished) parser.feed(`${decoder.decode()}\n\n`);
  discardBody(body);
}

/**
 * `stream: true` answered with one JSON body: either a legacy 200 error envelope or a complete
 * non-streaming chat completion, whose content is judged like a finished stream.
 */
function readJsonAnswer(state: ChatStreamState, text: string, httpStatus: number): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    fail(classifyHttpError({ status: httpStatus, headers: {}, body: text }));
  }
  const envelope = readErrorObject(parsed);
  if (envelope !== null) fail(classifyErrorBody(envelope, { httpStatus, requestId: state.requestId }, false));
  const record = typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : {};
  const choices = Array.isArray(record.choices) ? (record.choices as unknown[]) : [];
  if (choices.length === 0) {
    fail({
      code: "upstream_error",
      errorClass: "transient_upstream",
      message: "The upstream answered a streaming request with a JSON body that holds no answer.",
      retryable: true,
      fallback: true,
      httpStatus,
      requestId: state.requestId,
    });
  }
  state.handleEvent(undefined, text);
  state.sawDone = true;
}
