import { isBusyText } from "./busy-text";
import { classifyErrorBody, extractRequestId, isPolicyText, readErrorObject } from "./classify";
import { IncrementalProgressParser, type ProgressSnapshot, parseProgress, snapshotChanged } from "./progress-parser";
import type { UpstreamErrorInit } from "./upstream-error";

/** Token usage of a chat call, as the usage chunk reports it. */
export interface ChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** Consecutive unparsable `data:` lines tolerated before the stream counts as broken (row 16). */
const MAX_MALFORMED_RUN = 3;

/** How much of the raw stream is kept for operators when its progress text is not recognised. */
export const STREAM_HEAD_MAX_CHARS = 2048;

function readUsage(value: unknown): ChatUsage | null {
  if (typeof value !== "object" || value === null) return null;
  const usage = value as Record<string, unknown>;
  const num = (key: string): number => (typeof usage[key] === "number" ? (usage[key] as number) : 0);
  return {
    prompt_tokens: num("prompt_tokens"),
    completion_tokens: num("completion_tokens"),
    total_tokens: num("total_tokens"),
  };
}

function firstChoice(value: unknown): Record<string, unknown> | undefined {
  if (!Array.isArray(value)) return undefined;
  const first: unknown = value[0];
  return typeof first === "object" && first !== null ? (first as Record<string, unknown>) : undefined;
}

/**
 * The state of one chat-completions stream: accumulated content, the latest progress snapshot,
 * finish reason, usage, and the first failure seen. Fed one SSE event at a time; pure apart from
 * the progress callback.
 */
export class ChatStreamState {
  snapshot: ProgressSnapshot | null = null;
  finishReason: string | null = null;
  usage: ChatUsage | null = null;
  sawDone = false;
  failure: UpstreamErrorInit | null = null;
  requestId: string | undefined;
  /**
   * The first {@link STREAM_HEAD_MAX_CHARS} characters of the body as received (SSE framing included),
   * while no progress was recognised; emptied, and no longer kept, once some was: only a stream that
   * never showed any needs it, and with thousands of streams in flight each would hold ~2 KiB of chunks.
   */
  rawHead = "";
  private keepHead = true;
  private malformedRun = 0;
  private readonly progress: IncrementalProgressParser;

  constructor(
    private readonly requestedN: number,
    private readonly httpStatus: number,
    private readonly onProgress?: (snapshot: ProgressSnapshot) => void,
  ) {
    this.progress = new IncrementalProgressParser(requestedN);
  }

  /** The assistant text so far. */
  get text(): string {
    return this.progress.text;
  }

  /** True once nothing more needs to be read. */
  get finished(): boolean {
    return this.sawDone || this.failure !== null;
  }

  /** Keeps the start of the raw body, for the diagnosis of streams whose text is not recognised. */
  captureRaw(text: string): void {
    if (this.keepHead && this.rawHead.length < STREAM_HEAD_MAX_CHARS) {
      this.rawHead += text.slice(0, STREAM_HEAD_MAX_CHARS - this.rawHead.length);
    }
  }

  /** Handles one SSE event (`event:` name and `data:` text). */
  handleEvent(eventName: string | undefined, data: string): void {
    if (this.finished) return;
    if (data.trim() === "[DONE]") {
      this.sawDone = true;
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
      this.malformedRun = 0;
    } catch {
      parsed = undefined;
    }
    if (eventName === "error") {
      const envelope = readErrorObject(parsed) ?? { message: data || "error event", type: undefined, code: undefined };
      // classifyErrorBody keeps the upstream's words in `detail`, never in the message.
      this.fail(classifyErrorBody(envelope, this.base(), true));
      return;
    }
    if (parsed === undefined) {
      this.malformedRun += 1;
      if (this.malformedRun >= MAX_MALFORMED_RUN) {
        this.fail({
          code: "stream_truncated",
          errorClass: "protocol_noise",
          message: `The upstream sent ${this.malformedRun} unreadable stream lines in a row.`,
          retryable: false,
          fallback: true,
          ...this.base(),
        });
      }
      return;
    }
    this.handleChunk(parsed);
  }

  private handleChunk(chunk: unknown): void {
    const envelope = readErrorObject(chunk);
    if (envelope !== null) {
      this.fail(classifyErrorBody(envelope, this.base(), true));
      return;
    }
    if (typeof chunk !== "object" || chunk === null) return;
    const record = chunk as Record<string, unknown>;
    const usage = readUsage(record.usage);
    if (usage !== null) this.usage = usage;
    const choice = firstChoice(record.choices);
    if (choice === undefined) return;
    const delta = choice.delta ?? choice.message;
    if (typeof delta === "object" && delta !== null) {
      const content = (delta as Record<string, unknown>).content;
      if (typeof content === "string" && content !== "") this.append(content);
    }
    if (typeof choice.finish_reason === "string") {
      this.finishReason = choice.finish_reason;
      if (choice.finish_reason === "content_filter") {
        this.fail({
          code: "content_policy",
          errorClass: "content_policy",
          message: "The upstream filtered the response under its content policy.",
          retryable: false,
          fallback: false,
          ...this.base(),
        });
      }
    }
  }

  /** Appends assistant text and reports the snapshot when it changed. */
  append(content: string): void {
    const next = this.progress.push(content);
    this.requestId ??= extractRequestId(content);
    if (snapshotChanged(this.snapshot, next)) {
      this.snapshot = next;
      if (this.keepHead && next.stage !== "waiting") {
        this.keepHead = false;
        this.rawHead = "";
      }
      this.onProgress?.(next);
    }
  }

  /**
   * Decides the outcome once the stream ended (EOF or `[DONE]`). Returns the images, or the
   * failure of rows 2, 14 and 15 of section E.
   */
  conclude(): { imageUrls: string[] } | UpstreamErrorInit {
    if (this.failure !== null) return this.failure;
    const snapshot = this.snapshot ?? parseProgress(this.text, this.requestedN);
    const imageUrls = snapshot.imageUrls.slice(0, this.requestedN);
    const wanted = Math.min(this.requestedN, snapshot.declaredN ?? this.requestedN);
    // A complete set of images is usable even if the connection dropped before `[DONE]`:
    // only the usage chunk was lost, and refetching would bill the call twice.
    if (imageUrls.length > 0 && (this.sawDone || this.finishReason !== null || imageUrls.length >= wanted)) {
      return { imageUrls };
    }
    const base = this.base();
    const percent = snapshot.percent ?? 0;
    // Nothing in the text was a marker, a progress number or an image: the format may have
    // drifted. The start of the raw stream is kept for operators to see what it was.
    const unrecognised = snapshot.stage === "waiting" ? { unrecognisedStreamHead: this.rawHead } : {};
    if (!this.sawDone && this.finishReason === null) {
      return {
        ...base,
        ...unrecognised,
        code: "stream_truncated",
        errorClass: "truncated",
        message: `The upstream stream ended early, at ${percent}% (${snapshot.stage}).`,
        detail: this.excerpt(),
        retryable: false,
        fallback: true,
      };
    }
    if (isPolicyText(this.text)) {
      return {
        ...base,
        code: "content_policy",
        errorClass: "content_policy",
        message: "The upstream refused the request under its content policy.",
        detail: this.excerpt(),
        retryable: false,
        fallback: false,
      };
    }
    if (isBusyText(this.text)) {
      // The image service is overloaded, not the request at fault: worth a later call (with a
      // longer wait than a transient error, see the worker's policy).
      return {
        ...base,
        code: "upstream_busy",
        errorClass: "busy",
        message: "The upstream's image service is busy and drew nothing; the request will be tried again later.",
        detail: this.excerpt(),
        retryable: true,
        fallback: true,
      };
    }
    return {
      ...base,
      ...unrecognised,
      code: "no_image",
      errorClass: "no_image",
      message: `The upstream finished without an image, at ${percent}% (${snapshot.stage}).`,
      detail: this.excerpt(),
      retryable: false,
      fallback: true,
    };
  }

  /** The end of the assistant text (where a failure or busy notice is), for operators. */
  private excerpt(): string | undefined {
    const flat = this.text.replace(/\s+/g, " ").trim();
    if (flat === "") return undefined;
    return flat.length > 1000 ? flat.slice(-1000) : flat;
  }

  private fail(init: UpstreamErrorInit): void {
    this.failure ??= init;
  }

  private base(): { httpStatus: number; requestId: string | undefined } {
    return { httpStatus: this.httpStatus, requestId: this.requestId };
  }
}
