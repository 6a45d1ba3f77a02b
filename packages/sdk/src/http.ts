import { DarkroomError, errorFromResponse, networkError } from "./errors.js";

/** One API request. */
export interface RequestSpec {
  method: "GET" | "POST";
  path: string;
  query?: Record<string, string | undefined>;
  headers?: Record<string, string>;
  body?: unknown;
  /** Extra time on top of the client's timeout (a `Prefer: wait` the server holds on purpose). */
  extraTimeoutMs?: number;
  signal?: AbortSignal;
}

/** Settings shared by every request of one client. */
export interface Transport {
  baseUrl: string;
  apiKey: string;
  fetch: typeof fetch;
  timeoutMs: number;
}

/** The absolute URL of an API path with its query (undefined values left out). */
export function buildUrl(baseUrl: string, path: string, query: Record<string, string | undefined> = {}): string {
  // Appended, not resolved: a base URL with a path prefix (behind a proxy) keeps its prefix.
  const url = new URL(`${baseUrl.replace(/\/+$/, "")}${path}`);
  for (const [name, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(name, value);
  return url.toString();
}

/** A signal that fires when `ms` pass or when `outer` fires, whichever comes first. */
export function timeoutSignal(ms: number, outer?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(ms);
  return outer === undefined ? timeout : AbortSignal.any([timeout, outer]);
}

/**
 * Sends a request and returns the 2xx response for the caller to read (within the same timeout).
 * Non-2xx answers become a {@link DarkroomError} from their problem document; no answer becomes
 * `network_error`. A caller's own abort is rethrown as is, not disguised as a network failure.
 */
export async function send(transport: Transport, spec: RequestSpec): Promise<Response> {
  const timeoutMs = transport.timeoutMs + (spec.extraTimeoutMs ?? 0);
  const headers: Record<string, string> = {
    authorization: `Bearer ${transport.apiKey}`,
    accept: "application/json",
    ...spec.headers,
  };
  if (spec.body !== undefined) headers["content-type"] = "application/json";
  let response: Response;
  try {
    response = await transport.fetch(buildUrl(transport.baseUrl, spec.path, spec.query), {
      method: spec.method,
      headers,
      body: spec.body === undefined ? undefined : JSON.stringify(spec.body),
      signal: timeoutSignal(timeoutMs, spec.signal),
    });
  } catch (error) {
    throw translateFailure(error, spec, timeoutMs);
  }
  if (!response.ok) throw await errorFromResponse(response);
  return response;
}

/** Reads a 2xx response's JSON body, with the same failure translation as {@link send}. */
export async function readJson<T>(response: Response, spec: RequestSpec, timeoutMs: number): Promise<T> {
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    throw translateFailure(error, spec, timeoutMs);
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new DarkroomError({
      status: response.status,
      code: "unexpected_response",
      title: "The answer is not JSON",
      detail: text.slice(0, 500) || null,
      requestId: response.headers.get("x-request-id"),
      cause: error,
    });
  }
}

/** `send` then `readJson`: the common case. */
export async function requestJson<T>(
  transport: Transport,
  spec: RequestSpec,
): Promise<{ body: T; response: Response }> {
  const response = await send(transport, spec);
  const body = await readJson<T>(response, spec, transport.timeoutMs + (spec.extraTimeoutMs ?? 0));
  return { body, response };
}

/** A caller's abort passes through untouched; anything else is a network error. */
export function translateFailure(error: unknown, spec: RequestSpec, timeoutMs: number): unknown {
  if (spec.signal?.aborted === true) return spec.signal.reason;
  if (error instanceof DarkroomError) return error;
  const timedOut = error instanceof Error && error.name === "TimeoutError";
  const what = `${spec.method} ${spec.path}`;
  return networkError(
    error,
    timedOut ? `${what} timed out after ${timeoutMs} ms` : `${what} failed: ${describe(error)}`,
  );
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // undici reports "fetch failed" and puts the useful part (ECONNREFUSED …) in the cause.
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}`;
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
