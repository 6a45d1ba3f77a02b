import { type Dispatcher, request } from "undici";
import { classifyErrorBody, classifyHttpError, classifyNetworkError, readErrorObject } from "./classify";
import { callScope, headerValue, joinUrl, readBodyText } from "./http-util";
import { sniffImage } from "./image-sniff";
import { UpstreamError, type UpstreamErrorInit } from "./upstream-error";

/** Token usage of a gpt-image-1 call (upstream-protocol.md, B2). */
export interface ImagesUsage {
  input_tokens: number;
  input_tokens_details?: { text_tokens: number; image_tokens: number } | undefined;
  output_tokens: number;
  total_tokens: number;
}

/** Options of {@link generateImages}. */
export interface GenerateImagesOptions {
  baseUrl: string;
  apiKey: string;
  prompt: string;
  n: number;
  size: "1024x1024" | "1536x1024" | "1024x1536" | "auto";
  quality: "low" | "medium" | "high" | "auto";
  signal?: AbortSignal;
  /** Whole call, from sending to the last body byte; gpt-image-1 routinely needs 60–180 s. */
  timeoutMs: number;
  dispatcher?: Dispatcher;
  /** The response's headers arrived, this long after the request went out (a failure may follow). */
  onFirstByte?: (timeToFirstByteMs: number) => void;
}

/** A successful gpt-image-1 call: decoded, verified image bytes. */
export interface GenerateImagesResult {
  images: Buffer[];
  usage: ImagesUsage | null;
  requestId: string | undefined;
  httpStatus: number;
  timeToFirstByteMs: number;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function badResult(message: string, extra: Partial<UpstreamErrorInit>): UpstreamError {
  return new UpstreamError({
    code: "no_image",
    errorClass: "bad_fallback_result",
    message,
    retryable: true,
    fallback: false,
    ...extra,
  });
}

function readUsage(value: unknown): ImagesUsage | null {
  if (typeof value !== "object" || value === null) return null;
  const usage = value as Record<string, unknown>;
  const num = (v: unknown): number => (typeof v === "number" ? v : 0);
  const details = usage.input_tokens_details;
  const detailRecord = typeof details === "object" && details !== null ? (details as Record<string, unknown>) : null;
  return {
    input_tokens: num(usage.input_tokens),
    input_tokens_details:
      detailRecord === null
        ? undefined
        : { text_tokens: num(detailRecord.text_tokens), image_tokens: num(detailRecord.image_tokens) },
    output_tokens: num(usage.output_tokens),
    total_tokens: num(usage.total_tokens),
  };
}

/** Decodes one `b64_json` value strictly; null when it is not base64 of a PNG, JPEG or WebP. */
export function decodeImageBase64(value: string): Buffer | null {
  const compact = value.replace(/\s+/g, "");
  if (compact.length === 0 || compact.length % 4 !== 0 || !BASE64.test(compact)) return null;
  const bytes = Buffer.from(compact, "base64");
  return sniffImage(bytes) === null ? null : bytes;
}

/**
 * Calls `POST /v1/images/generations` with `model: "gpt-image-1"` (no `response_format`: the model
 * always answers base64) and returns the decoded images. Failures are thrown as classified
 * {@link UpstreamError}s; an aborted `signal` throws one with `errorClass: "canceled"`.
 */
export async function generateImages(options: GenerateImagesOptions): Promise<GenerateImagesResult> {
  const { signal } = options;
  const scope = callScope(signal, options.timeoutMs, "images request");
  const { controller, canceled } = scope;
  if (signal?.aborted) {
    scope.dispose();
    throw canceled();
  }
  try {
    let response: Dispatcher.ResponseData;
    let text: string;
    let timeToFirstByteMs = 0;
    const started = performance.now();
    try {
      response = await request(joinUrl(options.baseUrl, "/v1/images/generations"), {
        method: "POST",
        signal: controller.signal,
        dispatcher: options.dispatcher,
        headers: { authorization: `Bearer ${options.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({
          model: "gpt-image-1",
          prompt: options.prompt,
          n: options.n,
          size: options.size,
          quality: options.quality,
        }),
      });
      timeToFirstByteMs = Math.round(performance.now() - started);
      options.onFirstByte?.(timeToFirstByteMs);
      text = await readBodyText(response.body, 256 * 1024 * 1024);
    } catch (error) {
      if (signal?.aborted) throw canceled();
      throw new UpstreamError(classifyNetworkError(error, scope.timedOut()));
    }
    if (signal?.aborted) throw canceled();
    if (scope.timedOut()) throw new UpstreamError(classifyNetworkError(new Error("body timed out"), true));
    const { statusCode: httpStatus, headers } = response;
    const requestId = headerValue(headers, "x-request-id");
    if (httpStatus < 200 || httpStatus >= 300) {
      throw new UpstreamError(classifyHttpError({ status: httpStatus, headers, body: text, model: "gpt-image-1" }));
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new UpstreamError(classifyHttpError({ status: httpStatus, headers, body: text, model: "gpt-image-1" }));
    }
    const envelope = readErrorObject(parsed);
    if (envelope !== null) throw new UpstreamError(classifyErrorBody(envelope, { httpStatus, requestId }, false));
    const record = typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : {};
    const data = Array.isArray(record.data) ? (record.data as unknown[]) : [];
    if (data.length === 0) throw badResult("images response has no data", { httpStatus, requestId });
    const images = data.map((item, index) => {
      const entry = typeof item === "object" && item !== null ? (item as Record<string, unknown>) : {};
      if (typeof entry.b64_json !== "string") {
        const what = typeof entry.url === "string" ? "only a url" : "no b64_json";
        throw badResult(`images response item ${index} has ${what}`, { httpStatus, requestId });
      }
      const bytes = decodeImageBase64(entry.b64_json);
      if (bytes === null) {
        throw badResult(`images response item ${index} is not base64 of a PNG, JPEG or WebP`, {
          httpStatus,
          requestId,
        });
      }
      return bytes;
    });
    return { images, usage: readUsage(record.usage), requestId, httpStatus, timeToFirstByteMs };
  } finally {
    scope.dispose();
  }
}
