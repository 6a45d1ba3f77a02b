import type { ServerResponse } from "node:http";
import { sleep } from "./http-helpers";

/** Framing choices of one stream (the `crlf`, `nospace`, `split` directives). */
export interface SseFraming {
  crlf: boolean;
  nospace: boolean;
  /** Write every frame in pieces of this many bytes (0 = whole frames). */
  split: number;
  splitDelayMs: number;
}

/**
 * Writes SSE frames the way new-api does, with optional framing faults, and sends keep-alive
 * comments every `pingMs` between (never inside) frames.
 */
export class SseWriter {
  private busy = false;
  private pingTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly framing: SseFraming,
    private readonly signal: AbortSignal,
  ) {}

  /** Starts keep-alive comments (`: PING` by default). */
  startPing(pingMs: number, text = "PING"): void {
    this.stopPing();
    if (pingMs <= 0) return;
    this.pingTimer = setInterval(() => {
      if (!this.busy && !this.signal.aborted && this.res.writable) this.res.write(this.encode(`: ${text}\n\n`));
    }, pingMs);
  }

  stopPing(): void {
    clearInterval(this.pingTimer);
    this.pingTimer = undefined;
  }

  /** `data: <json>` */
  data(payload: unknown): Promise<void> {
    const text = typeof payload === "string" ? payload : JSON.stringify(payload);
    return this.frame(`${this.framing.nospace ? "data:" : "data: "}${text}\n\n`);
  }

  /** `event: <name>` + `data: <json>` */
  event(name: string, payload: unknown): Promise<void> {
    return this.frame(`event: ${name}\n${this.framing.nospace ? "data:" : "data: "}${JSON.stringify(payload)}\n\n`);
  }

  /** Writes the first `bytes` bytes of a frame and nothing more (for truncation faults). */
  partial(payload: unknown, bytes: number): void {
    const frame = this.encode(`data: ${JSON.stringify(payload)}\n\n`);
    this.res.write(frame.subarray(0, Math.min(bytes, frame.length - 1)));
  }

  /** Writes raw text as-is (after line-ending conversion). */
  raw(text: string): Promise<void> {
    return this.frame(text);
  }

  private encode(text: string): Buffer {
    return Buffer.from(this.framing.crlf ? text.replace(/\n/g, "\r\n") : text, "utf8");
  }

  private async frame(text: string): Promise<void> {
    if (this.signal.aborted || !this.res.writable) return;
    const bytes = this.encode(text);
    const size = this.framing.split;
    if (size <= 0 || size >= bytes.length) {
      this.res.write(bytes);
      return;
    }
    this.busy = true;
    try {
      for (let offset = 0; offset < bytes.length; offset += size) {
        if (this.signal.aborted || !this.res.writable) return;
        this.res.write(bytes.subarray(offset, offset + size));
        await sleep(this.framing.splitDelayMs, this.signal);
      }
    } finally {
      this.busy = false;
    }
  }
}
