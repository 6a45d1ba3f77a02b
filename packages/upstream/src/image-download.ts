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
  /**
   * `ALLOW_PRIVATE_IMAGE_URLS`: plain http and any port of an allowed host (development, tests, the
   * simulator). Otherwise only https, on port 443 or a port the matching allowlist entry names; the
   * addresses are checked by `dispatcher` (pass `createGuardedDispatcher` of `@darkroom/webhooks`
   * with the same `allowPrivate`, as the worker does), which refuses loopback, private, link-local
   * and metadata addresses at every connection.
   */
  allowPrivate?: boolean;
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

/** The port a URL connects to. */
const portOf = (url: URL): string => (url.port === "" ? (url.protocol === "https:" ? "443" : "80") : url.port);

/** The allowlist entry that allows `url`'s host (and port, when the entry names one), or undefined. */
function allowingEntry(url: URL, allowlist: readonly string[]): { entry: string; namesPort: boolean } | undefined {
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, "");
  const port = portOf(url);
  for (const raw of allowlist) {
    const entry = raw.trim().toLowerCase();
    if (entry === "") continue;
    const portMatch = /^(.*):(\d+)$/.exec(entry);
    const entryHost = (portMatch?.[1] ?? entry).replace(/^\[|\]$/g, "");
    if (portMatch?.[2] !== undefined && portMatch[2] !== port) continue;
    const matches = entryHost.startsWith("*.")
      ? host.endsWith(entryHost.slice(1)) && host.length > entryHost.length - 1
      : host === entryHost;
    if (matches) return { entry, namesPort: portMatch !== null };
  }
  return undefined;
}

/** True when `url`'s host is allowed by one of the allowlist entries. */
export function isHostAllowed(url: URL, allowlist: readonly string[]): boolean {
  return allowingEntry(url, allowlist) !== undefined;
}

/** A download refused before any connection: the same URL will never be allowed. */
const refused = (url: URL, why: string) => fetchError(`image URL ${url.origin} refused: ${why}`, false);

/**
 * Why a URL (first or after a redirect) may not be fetched, or null. The same rules as webhooks:
 * no credentials; unless `allowPrivate`, https only, and port 443 unless the allowlist entry names
 * the port. Addresses are the dispatcher's to check, at connect time (DNS can change).
 */
function refusal(url: URL, options: DownloadImageOptions): UpstreamError | null {
  const allowed = allowingEntry(url, options.allowlist);
  if (allowed === undefined) return fetchError(`image host ${url.host} is not in the allowlist`, false);
  if (url.username !== "" || url.password !== "") return refused(url, "it carries a username or password");
  if (options.allowPrivate === true) return null;
  if (url.protocol !== "https:") {
    return refused(url, `${url.protocol} is not allowed (https only, unless ALLOW_PRIVATE_IMAGE_URLS=true)`);
  }
  if (portOf(url) !== "443" && !allowed.namesPort) {
    return refused(
      url,
      `port ${portOf(url)} is not allowed (443, or a port its IMAGE_HOST_ALLOWLIST entry names as host:port)`,
    );
  }
  return null;
}

/** The guarded dispatcher's refusal (`BlockedAddressError` of `@darkroom/webhooks`), found by name in the cause chain. */
function blockedAddress(error: unknown): Error | null {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (e.name === "BlockedAddressError") return e;
  }
  return null;
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
 * Downloads a result image from an allowed host: refuses other hosts, schemes, ports and addresses
 * (see `allowPrivate`; also on redirects), non-image
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
      const refusedUrl = refusal(target, options);
      if (refusedUrl !== null) throw refusedUrl;
      let response: Dispatcher.ResponseData;
      try {
        response = await request(target, { method: "GET", signal: controller.signal, dispatcher: options.dispatcher });
      } catch (error) {
        if (signal?.aborted) throw canceled();
        const blocked = blockedAddress(error);
        if (blocked !== null) {
          const detail = (blocked as Error & { detail?: string }).detail;
          const why = detail === undefined ? blocked.message : `${target.hostname} ${detail}`;
          throw fetchError(`image URL ${target.origin} refused: ${why}`, false, { cause: error });
        }
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
