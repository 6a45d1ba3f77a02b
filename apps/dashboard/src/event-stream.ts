import { type AdminApi, UnauthorizedError } from "./api-client";
import type { LiveState, StreamEvent } from "./types";

export interface StreamHandlers {
  onEvent(event: StreamEvent): void;
  onState(state: LiveState): void;
  /** Called when earlier events were not replayed: a connection without Last-Event-ID, or a `reset`. */
  onFreshStart(): void;
  onUnauthorized(error: UnauthorizedError): void;
}

interface SseMessage {
  id: string | null;
  event: string;
  data: string;
  retry: number | null;
}

/** Parses one SSE block (the lines between blank lines); comments such as `: keep-alive` yield nothing. */
export function parseSseBlock(block: string): SseMessage | null {
  const message: SseMessage = { id: null, event: "message", data: "", retry: null };
  const data: string[] = [];
  let seen = false;
  for (const line of block.split(/\r\n|\r|\n/)) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "data") data.push(value);
    else if (field === "event") message.event = value;
    else if (field === "id") message.id = value;
    else if (field === "retry" && /^\d+$/.test(value)) message.retry = Number(value);
    else continue;
    seen = true;
  }
  if (!seen) return null;
  message.data = data.join("\n");
  return message;
}

const MIN_RETRY_MS = 500;
const MAX_RETRY_MS = 10_000;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Follows `GET /admin/api/stream` until `signal` aborts. EventSource cannot send an Authorization
 * header, so this reads the body with fetch; after a drop it reconnects with Last-Event-ID so that
 * nothing in between is lost.
 */
export async function followAdminStream(api: AdminApi, handlers: StreamHandlers, signal: AbortSignal): Promise<void> {
  let lastEventId: string | null = null;
  let retryMs = 2000;
  let failures = 0;
  while (!signal.aborted) {
    try {
      const headers: Record<string, string> = { ...api.authHeaders(), accept: "text/event-stream" };
      if (lastEventId !== null) headers["last-event-id"] = lastEventId;
      const res = await fetch(`${api.baseUrl}/admin/api/stream`, { headers, signal });
      if (res.status === 401) {
        handlers.onUnauthorized(new UnauthorizedError("The admin token was not accepted."));
        return;
      }
      if (!res.ok || res.body === null) throw new Error(`stream answered ${res.status}`);
      failures = 0;
      handlers.onState("live");
      if (lastEventId === null) handlers.onFreshStart();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        const blocks = buffer.split(/\r\n\r\n|\n\n|\r\r/);
        buffer = blocks.pop() ?? "";
        for (const block of blocks) {
          const message = parseSseBlock(block);
          if (message === null) continue;
          if (message.retry !== null) retryMs = message.retry;
          if (message.id !== null) lastEventId = message.id;
          // The API could not replay what was missed (too much): read the lists again.
          if (message.event === "reset") {
            handlers.onFreshStart();
            continue;
          }
          if (message.data === "") continue;
          handlers.onEvent(JSON.parse(message.data) as StreamEvent);
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      failures++;
      console.warn("dashboard stream dropped", error);
    }
    if (signal.aborted) return;
    handlers.onState("reconnecting");
    // Backs off while the API stays unreachable, so a restart is not met by a reconnect storm.
    await sleep(Math.min(MAX_RETRY_MS, Math.max(MIN_RETRY_MS, retryMs * 2 ** Math.min(failures, 3))), signal);
  }
}
