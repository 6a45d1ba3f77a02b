import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** How the receiver answers one request: a status after `delayMs` (and `until` settled), or never (`hang`). */
export interface Answer {
  status: number;
  headers?: Record<string, string>;
  delayMs?: number;
  hang?: boolean;
  /** Holds the answer until this settles. */
  until?: Promise<unknown>;
}

/**
 * A webhook receiver on 127.0.0.1 whose answer to the i-th request of a path is scripted. It counts
 * the requests it holds open per path (`maxInFlight`), so that tests can see concurrency caps.
 */
export class Receiver {
  readonly received: Received[] = [];
  private readonly scripts = new Map<string, (i: number) => Answer>();
  private readonly inFlight = new Map<string, number>();
  private readonly peak = new Map<string, number>();
  private server: Server | null = null;
  url = "";

  async start() {
    this.server = createServer((req, res) => {
      // Decoded once at the end: a character may be split between chunks.
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const path = req.url ?? "/";
        const i = this.received.filter((r) => r.path === path).length;
        this.received.push({ path, headers: req.headers, body, at: Date.now() });
        const open = (this.inFlight.get(path) ?? 0) + 1;
        this.inFlight.set(path, open);
        this.peak.set(path, Math.max(this.peak.get(path) ?? 0, open));
        // The sender gives up (timeout) by closing the connection: the request is over then too.
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          this.inFlight.set(path, (this.inFlight.get(path) ?? 1) - 1);
        };
        res.on("close", finish);
        const answer = this.scripts.get(path)?.(i) ?? { status: 200 };
        if (answer.hang === true) return;
        const reply = () =>
          setTimeout(() => {
            res.writeHead(answer.status, answer.headers ?? {});
            res.end(answer.status >= 300 ? "receiver says no" : "ok");
          }, answer.delayMs ?? 0);
        if (answer.until === undefined) reply();
        else void answer.until.finally(reply);
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, "127.0.0.1", () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  script(path: string, fn: (i: number) => Answer) {
    this.scripts.set(path, fn);
    return `${this.url}${path}`;
  }

  of(path: string) {
    return this.received.filter((r) => r.path === path);
  }

  /** The most requests of `path` held open at once so far. */
  maxInFlight(path: string): number {
    return this.peak.get(path) ?? 0;
  }

  async waitFor(path: string, count: number, timeoutMs = 10_000) {
    const deadline = Date.now() + timeoutMs;
    while (this.of(path).length < count) {
      if (Date.now() > deadline) throw new Error(`${path}: ${this.of(path).length} of ${count} deliveries`);
      await new Promise((r) => setTimeout(r, 25));
    }
    return this.of(path);
  }

  close() {
    // Requests left hanging would hold the close forever.
    this.server?.closeAllConnections();
    return new Promise<void>((r) => this.server?.close(() => r()));
  }
}
