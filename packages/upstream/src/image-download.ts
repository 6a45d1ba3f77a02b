import { type Dispatcher, request } from "undici";
import { errorCodeOf } from "./classify";
import { callScope, discardBody, type HeaderRecord, headerValue, readBodyText } from "./http-util";
import { sniffImage } from "./image-sniff";
import { UpstreamError } from "./upstream-error";

/** Options of {@link downloadImage}. */
export interface DownloadImageOptions {
  /**
   * Hosts that may serve results: `"host"` (any port), `"host:port"` (that port only) or
   * `"*.domain"` (any subdomain of domain, not the domain itself).
   */
  allowlist: string[];
  maxBytes: number;
  /** Whole download, redirects included. */
  timeoutMs: number;
  signal?: AbortSignal;
  dispatcher?: Dispatcher;
}

/** A downloaded, verified image. */
export interface DownloadedImage {
  bytes: Buffer;
  contentType: string;
  width: number;
  height: number;
}

const MAX_REDIRECTS = 3;

/** True when `url`'s host is allowed by one of the allowlist entries. */
export function isHostAllowed(url: URL, allowlist: readonly string[]): boolean {
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, "");
  const port = url.port === "" ? (url.protocol === "https:" ? "443" : "80") : url.port;
  return allowlist.some((raw) => {
    const entry = raw.trim().toLowerCase();
    if (entry === "") return false;
    const portMatch = /^(.*):(\d+)$/.exec(entry);
    const entryHost = (portMatch?.[1] ?? entry).replace(/^\[|\]$/g, "");
    if (portMatch?.[2] !== undefined && portMatch[2] !== port) return false;
    if (entryHost.startsWith("*.")) return host.endsWith(entryHost.slice(1)) && host.length > entryHost.length - 1;
    return host === entryHost;
  });
}

function fetchError(
  message: string,
  retryable: boolean,
  extra: { httpStatus?: number; cause?: unknown; detail?: string } = {},
) {
  return new UpstreamError({
    code: "result_unavailable",
    errorClass: "result_fetch",
    message,
    retryable,
    fallback: true,
    ...extra,
  });
}

/**
 * Downloads a result image from an allowed host: refuses other hosts (also on redirects), non-image
 * content types and bodies that are not a PNG/JPEG/WebP, stops reading past `maxBytes`, and notices
 * bodies shorter than their Content-Length. Failures are `UpstreamError`s with code
 * `result_unavailable` and class `result_fetch`; 5xx, 429, timeouts and broken connections are
 * retryable. An aborted `signal` throws one with `errorClass: "canceled"`.
 */
export async function downloadImage(url: string, options: DownloadImageOptions): Promise<DownloadedImage> {
  const { signal } = options;
  const scope = callScope(signal, options.timeoutMs, "image download");
  const { controller, canceled } = scope;
  if (signal?.aborted) {
    scope.dispose();
    throw canceled();
  }
  try {
    let target = parseUrl(url);
    for (let hop = 0; ; hop += 1) {
      if (!isHostAllowed(target, options.allowlist)) {
        throw fetchError("The image host is not in the allowlist.", false, { detail: target.host });
      }
      let response: Dispatcher.ResponseData;
      try {
        response = await request(target, { method: "GET", signal: controller.signal, dispatcher: options.dispatcher });
      } catch (error) {
        if (signal?.aborted) throw canceled();
        throw fetchError(
          scope.timedOut()
            ? "image download timed out"
            : `image download failed (${errorCodeOf(error) ?? String(error)})`,
          true,
          { cause: error },
        );
      }
      const { statusCode, headers, body } = response;
      const location = headerValue(headers, "location");
      if (statusCode >= 300 && statusCode < 400 && location !== undefined) {
        discardBody(body);
        if (hop >= MAX_REDIRECTS) throw fetchError("too many redirects", false, { httpStatus: statusCode });
        target = parseUrl(new URL(location, target).toString());
        continue;
      }
      if (statusCode < 200 || statusCode >= 300) {
        const text = await readBodyText(body, 2048);
        const retryable = statusCode >= 500 || statusCode === 429 || statusCode === 408;
        // The host's body is for operators only (detail); tenants see the status.
        throw fetchError(`The image host answered HTTP ${statusCode}.`, retryable, {
          httpStatus: statusCode,
          detail: text,
        });
      }
      try {
        return await readImage(body, headers, statusCode, options.maxBytes);
      } catch (error) {
        if (error instanceof UpstreamError) throw error;
        if (signal?.aborted) throw canceled();
        const reason = scope.timedOut() ? "timed out" : `broke (${errorCodeOf(error) ?? String(error)})`;
        throw fetchError(`image download ${reason}`, true, { httpStatus: statusCode, cause: error });
      }
    }
  } finally {
    scope.dispose();
  }
}

function parseUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw fetchError("The image link is not a URL.", false, { detail: value.slice(0, 200) });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw fetchError("The image link uses a scheme other than http or https.", false, { detail: url.protocol });
  return url;
}

async function readImage(
  body: Dispatcher.ResponseData["body"],
  headers: HeaderRecord,
  httpStatus: number,
  maxBytes: number,
): Promise<DownloadedImage> {
  const contentType = (headerValue(headers, "content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (!contentType.startsWith("image/")) {
    discardBody(body);
    throw fetchError("The image host sent something that is not an image.", false, {
      httpStatus,
      detail: `content-type: ${contentType || "(none)"}`,
    });
  }
  const declared = headerValue(headers, "content-length");
  const expected = declared === undefined ? undefined : Number.parseInt(declared, 10);
  if (expected !== undefined && expected > maxBytes) {
    discardBody(body);
    throw fetchError(`image is ${expected} bytes, over the ${maxBytes} byte limit`, false, { httpStatus });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > maxBytes) {
      discardBody(body);
      throw fetchError(`image is over the ${maxBytes} byte limit`, false, { httpStatus });
    }
    chunks.push(buf);
  }
  if (expected !== undefined && Number.isFinite(expected) && size !== expected) {
    throw fetchError(`image body truncated: ${size} of ${expected} bytes`, true, { httpStatus });
  }
  const bytes = Buffer.concat(chunks, size);
  const sniffed = sniffImage(bytes);
  if (sniffed === null)
    throw fetchError(`body labelled ${contentType} is not a PNG, JPEG or WebP`, false, { httpStatus });
  return { bytes, contentType: sniffed.contentType, width: sniffed.width, height: sniffed.height };
}
