import { createParser, type EventSourceMessage } from "eventsource-parser";

export interface SseRead {
  status: number;
  events: EventSourceMessage[];
  comments: string[];
  retry: number | null;
  /** True when the server ended the stream (not the client). */
  endedByServer: boolean;
  /**
   * Every `id:` the server sent, in order, including those of blocks without data (which move a
   * browser's `lastEventId` without dispatching an event, so `events` never shows them).
   */
  ids: string[];
  /** What a browser's EventSource would send as `Last-Event-ID` on reconnecting ("" for none). */
  lastEventId: string;
}

/** Collects the `id:` fields of a stream, chunk by chunk (a line may be split across chunks). */
function idScanner(onId: (id: string) => void): (text: string) => void {
  let partial = "";
  return (text) => {
    const lines = (partial + text).split(/\r\n|\r|\n/);
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (line === "id" || line.startsWith("id:")) {
        const value = line.slice(3).replace(/^ /, "");
        if (!value.includes("\0")) onId(value);
      }
    }
  };
}

/**
 * Reads an SSE response like a browser's EventSource would, until the server ends it, `stop`
 * says so after an event, or `timeoutMs` passes (then the client disconnects).
 */
export async function readSse(
  url: string,
  options: {
    headers?: Record<string, string>;
    /** Called for every event as it arrives. */
    onEvent?: (event: EventSourceMessage) => void;
    stop?: (event: EventSourceMessage, all: EventSourceMessage[]) => boolean;
    /** Called for every `retry:` field: a server that sends one first has set the stream up. */
    onRetry?: (ms: number) => void;
    timeoutMs?: number;
  } = {},
): Promise<SseRead> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 15_000);
  const result: SseRead = {
    status: 0,
    events: [],
    comments: [],
    retry: null,
    endedByServer: false,
    ids: [],
    lastEventId: "",
  };
  const scanIds = idScanner((id) => {
    result.ids.push(id);
    result.lastEventId = id;
  });
  let stopped = false;
  const parser = createParser({
    onEvent(event) {
      result.events.push(event);
      options.onEvent?.(event);
      if (!stopped && options.stop?.(event, result.events)) {
        stopped = true;
        controller.abort();
      }
    },
    onComment(comment) {
      result.comments.push(comment);
    },
    onRetry(ms) {
      result.retry = ms;
      options.onRetry?.(ms);
    },
  });
  try {
    const res = await fetch(url, {
      headers: { accept: "text/event-stream", ...options.headers },
      signal: controller.signal,
    });
    result.status = res.status;
    if (res.body === null) return result;
    const decoder = new TextDecoder();
    for await (const chunk of res.body) {
      const text = decoder.decode(chunk as Uint8Array, { stream: true });
      scanIds(text);
      parser.feed(text);
    }
    result.endedByServer = true;
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  } finally {
    clearTimeout(timer);
  }
  return result;
}
