import type { Readable } from "node:stream";
import { UpstreamError } from "./upstream-error";

/** Response headers as undici reports them. */
export type HeaderRecord = Record<string, string | string[] | undefined>;

/** First value of a header, if present. */
export function headerValue(headers: HeaderRecord, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** Reads at most `limit` bytes of a body as UTF-8 and discards the rest; never throws. */
export async function readBodyText(body: Readable, limit = 65_536): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      chunks.push(buf);
      size += buf.length;
      if (size >= limit) break;
    }
  } catch {
    // A body cut short still tells us what kind of error it was.
  } finally {
    discardBody(body);
  }
  return Buffer.concat(chunks).subarray(0, limit).toString("utf8");
}

/** Joins `baseUrl` and an absolute path, tolerating a trailing slash or a `/v1` suffix on the base. */
export function joinUrl(baseUrl: string, path: string): string {
  const trimmed = baseUrl.replace(/\/+$/, "").replace(/\/v1$/, "");
  return `${trimmed}${path}`;
}

/**
 * An AbortController that follows an outer signal. `dispose` detaches the listener so long-lived
 * outer signals (a job's) do not accumulate listeners across calls.
 */
export function linkedController(outer: AbortSignal | undefined): { controller: AbortController; dispose: () => void } {
  const controller = new AbortController();
  if (outer === undefined) return { controller, dispose: () => {} };
  const forward = (): void => controller.abort(outer.reason);
  if (outer.aborted) forward();
  else outer.addEventListener("abort", forward, { once: true });
  return { controller, dispose: () => outer.removeEventListener("abort", forward) };
}

/**
 * One upstream call's abort scope: the caller's signal plus an overall timeout. `canceled()` is the
 * error for a caller abort (cancel, shutdown, deadline); `timedOut()` tells a timeout apart.
 */
export function callScope(
  signal: AbortSignal | undefined,
  timeoutMs: number,
  what: string,
): { controller: AbortController; timedOut: () => boolean; canceled: () => UpstreamError; dispose: () => void } {
  const { controller, dispose } = linkedController(signal);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error(`${what} timed out`));
  }, timeoutMs);
  return {
    controller,
    timedOut: () => timedOut,
    canceled: () =>
      new UpstreamError({
        code: "internal",
        errorClass: "canceled",
        message: `the ${what} was canceled`,
        retryable: false,
        fallback: false,
        cause: signal?.reason,
      }),
    dispose: () => {
      clearTimeout(timer);
      dispose();
    },
  };
}

/**
 * Drops a response body we no longer need. undici reports a body destroyed before its end as an
 * `error` event; nobody is listening any more, so it is swallowed instead of crashing the process.
 */
export function discardBody(body: {
  on(event: "error", listener: (error: unknown) => void): unknown;
  destroy(): unknown;
}): void {
  body.on("error", () => {});
  body.destroy();
}
