import { createParser } from "eventsource-parser";
import { isTerminal, type JobView } from "./api-types.js";
import { DarkroomError, errorFromResponse, networkError } from "./errors.js";
import { buildUrl, sleep, type Transport } from "./http.js";
import { type DarkroomEvent, type EventPage, type StreamEventsOptions, TERMINAL_EVENT_TYPES } from "./types.js";

/** Until the server sends its `retry:` hint (the EventSource default is about as long). */
const DEFAULT_RETRY_MS = 2000;
/** Reconnections that bring nothing back off exponentially from the hint up to this. */
const MAX_RECONNECT_DELAY_MS = 30_000;

/** What the stream needs besides the transport: the JSON calls used to tell "done" from "dropped". */
export interface EventStreamContext {
  transport: Transport;
  jobId: string;
  getJob(): Promise<JobView>;
  listEvents(after: number): Promise<EventPage>;
}

/** True for `job.succeeded`, `job.failed` and `job.canceled`, after which a stream ends. */
export function isTerminalEvent(type: string): boolean {
  return (TERMINAL_EVENT_TYPES as readonly string[]).includes(type);
}

function parseLastEventId(value: string | undefined): number | null {
  if (value === undefined || value === "") return null;
  if (!/^\d{1,15}$/.test(value)) throw new RangeError(`lastEventId must be an event seq, got "${value}"`);
  return Number(value);
}

function parseEvent(data: string): DarkroomEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    parsed = null;
  }
  const event = parsed as Partial<DarkroomEvent> | null;
  if (event === null || typeof event !== "object" || typeof event.seq !== "number" || typeof event.type !== "string") {
    throw new DarkroomError({
      status: 200,
      code: "unexpected_response",
      title: "An event stream sent data that is not an event",
      detail: data.slice(0, 500),
      requestId: null,
    });
  }
  return event as DarkroomEvent;
}

/**
 * One SSE connection: yields the events it carries until the server ends it. Fails with a
 * `network_error` when the connection drops or stays silent (no byte, keep-alive comments
 * included) for the client's timeout, which would otherwise hang on a half-open socket.
 */
async function* readConnection(
  ctx: EventStreamContext,
  lastSeq: number | null,
  signal: AbortSignal | undefined,
  onRetry: (ms: number) => void,
): AsyncGenerator<DarkroomEvent, void, undefined> {
  const { transport } = ctx;
  const controller = new AbortController();
  let idle = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      idle = true;
      controller.abort();
    }, transport.timeoutMs);
  };
  const forward = () => controller.abort(signal?.reason);
  signal?.addEventListener("abort", forward, { once: true });
  const failure = (error: unknown): unknown => {
    if (signal?.aborted === true) return signal.reason;
    if (error instanceof DarkroomError) return error;
    return networkError(
      error,
      idle ? `event stream silent for ${transport.timeoutMs} ms` : `event stream dropped: ${String(error)}`,
    );
  };
  const path = `/v1/jobs/${encodeURIComponent(ctx.jobId)}/events`;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  try {
    arm();
    let response: Response;
    try {
      // live=false: every event with its seq, progress included (the server's live progress, sent
      // ahead of its commit without a seq, would otherwise stand in for some durable events).
      response = await transport.fetch(buildUrl(transport.baseUrl, path, { live: "false" }), {
        headers: {
          authorization: `Bearer ${transport.apiKey}`,
          accept: "text/event-stream",
          ...(lastSeq === null ? {} : { "last-event-id": String(lastSeq) }),
        },
        signal: controller.signal,
      });
    } catch (error) {
      throw failure(error);
    }
    if (!response.ok) throw await errorFromResponse(response);
    if (!(response.headers.get("content-type") ?? "").includes("text/event-stream") || response.body === null) {
      await response.body?.cancel().catch(() => undefined);
      throw new DarkroomError({
        status: response.status,
        code: "unexpected_response",
        title: "Expected an event stream",
        detail: `content-type ${response.headers.get("content-type") ?? "(none)"}`,
        requestId: response.headers.get("x-request-id"),
      });
    }
    const pending: DarkroomEvent[] = [];
    let invalid: unknown = null;
    const parser = createParser({
      onEvent: (message) => {
        try {
          pending.push(parseEvent(message.data));
        } catch (error) {
          invalid ??= error;
        }
      },
      onRetry,
    });
    reader = response.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const chunk = await reader.read().catch((error: unknown) => {
        throw failure(error);
      });
      if (chunk.done) return;
      parser.feed(decoder.decode(chunk.value, { stream: true }));
      if (invalid !== null) throw invalid;
      // A slow consumer is not a silent server: the idle timer stops while events are handed out.
      clearTimeout(timer);
      for (let event = pending.shift(); event !== undefined; event = pending.shift()) yield event;
      arm();
    }
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", forward);
    controller.abort();
    await reader?.cancel().catch(() => undefined);
  }
}

/** Nothing more will come: the job is terminal and the log holds nothing after `lastSeq`. */
async function isCaughtUp(ctx: EventStreamContext, lastSeq: number | null): Promise<boolean> {
  try {
    if (!isTerminal((await ctx.getJob()).status)) return false;
    return (await ctx.listEvents(lastSeq ?? 0)).data.length === 0;
  } catch (error) {
    if (error instanceof DarkroomError && error.retryable) return false;
    throw error;
  }
}

/**
 * A job's events over SSE, each once and in `seq` order, until the terminal one. A connection that
 * drops, or that the server ends early (a restart ends every stream), is resumed with
 * `Last-Event-ID` after the server's `retry:` delay; events already yielded are skipped should a
 * server send them again.
 */
export async function* streamJobEvents(
  ctx: EventStreamContext,
  options: StreamEventsOptions = {},
): AsyncGenerator<DarkroomEvent, void, undefined> {
  const { signal } = options;
  const reconnect = options.reconnect ?? true;
  let lastSeq = parseLastEventId(options.lastEventId);
  let retryMs = DEFAULT_RETRY_MS;
  let quietConnections = 0;
  for (;;) {
    let received = 0;
    let failure: unknown = null;
    try {
      for await (const event of readConnection(ctx, lastSeq, signal, (ms) => (retryMs = ms))) {
        if (lastSeq !== null && event.seq <= lastSeq) continue;
        lastSeq = event.seq;
        received++;
        yield event;
        if (isTerminalEvent(event.type)) return;
      }
    } catch (error) {
      if (signal?.aborted === true) throw signal.reason;
      if (!reconnect || !(error instanceof DarkroomError && error.retryable)) throw error;
      failure = error;
    }
    if (!reconnect) return;
    // The server closes at once a stream whose client already has the terminal event; without
    // this check such a stream would be reopened forever.
    if (failure === null && received === 0 && (await isCaughtUp(ctx, lastSeq))) return;
    quietConnections = received > 0 ? 0 : quietConnections + 1;
    const backoff = Math.min(retryMs * 2 ** Math.max(0, quietConnections - 1), MAX_RECONNECT_DELAY_MS);
    const hinted = failure instanceof DarkroomError ? (failure.retryAfterSeconds ?? 0) * 1000 : 0;
    await sleep(Math.max(retryMs, backoff, hinted), signal);
  }
}
