import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, type ApiHarness, startApiHarness } from "./harness";

/**
 * The HTTP server's own defences against clients that hold connections: slow headers, slow bodies,
 * idle keep-alive sockets, too many connections. Raw sockets, so that bytes arrive exactly as sent.
 */

interface RawSocket {
  socket: net.Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves with the time (ms since connect) at which the server closed the socket. */
  closed: Promise<number>;
}

function connect(url: string): Promise<RawSocket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    const started = Date.now();
    let data = "";
    socket.on("data", (chunk: Buffer) => {
      data += chunk.toString("utf8");
    });
    const closed = new Promise<number>((done) => socket.on("close", () => done(Date.now() - started)));
    socket.once("error", () => undefined);
    socket.once("connect", () => resolve({ socket, received: () => data, closed }));
    socket.once("error", reject);
  });
}

/** Writes `chunks` one every `everyMs` until the socket closes; resolves with how many were written. */
async function trickle(socket: net.Socket, chunks: string[], everyMs: number): Promise<number> {
  let written = 0;
  for (const chunk of chunks) {
    if (socket.destroyed || !socket.writable) break;
    socket.write(chunk);
    written += 1;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return written;
}

/** `promise`, or "timeout" after `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  return Promise.race([promise, new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), ms))]);
}

/** One request on its own connection (no pooled sockets left behind to count against the cap). */
function call(base: string, method: string, pathname: string, key: string, body?: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${base}${pathname}`,
      {
        method,
        agent: false,
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json", connection: "close" },
      },
      (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => {
          text += chunk.toString("utf8");
        });
        res.on("end", () => resolve(JSON.parse(text)));
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

interface OpenStream {
  /** Times (ms since the stream opened) of every chunk received. */
  chunks: number[];
  status: number;
  ended: () => boolean;
  close(): void;
}

/** An SSE stream of a job over its own connection. */
function openStream(base: string, key: string, jobId: string): Promise<OpenStream> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const req = http.get(
      `${base}/v1/jobs/${jobId}/events`,
      { agent: false, headers: { authorization: `Bearer ${key}`, accept: "text/event-stream" } },
      (res) => {
        const chunks: number[] = [];
        let ended = false;
        res.on("data", () => chunks.push(Date.now() - started));
        res.on("close", () => {
          ended = true;
        });
        resolve({ chunks, status: res.statusCode ?? 0, ended: () => ended, close: () => req.destroy() });
      },
    );
    req.on("error", reject);
  });
}

async function queuedJob(h: ApiHarness): Promise<{ key: string; jobId: string }> {
  const created = (await call(h.url, "POST", "/admin/api/keys", ADMIN_TOKEN, { name: "t" })) as { api_key: string };
  // No worker runs in this harness: the job stays queued and its stream open.
  const job = (await call(h.url, "POST", "/v1/jobs", created.api_key, { prompt: "stays queued" })) as { id: string };
  return { key: created.api_key, jobId: job.id };
}

async function eventually(probe: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return false;
}

describe("HTTP timeouts", () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiHarness("http-timeouts", {
      HTTP_HEADERS_TIMEOUT_MS: "500",
      HTTP_REQUEST_TIMEOUT_MS: "3000",
      HTTP_KEEPALIVE_TIMEOUT_MS: "300",
      SSE_KEEPALIVE_MS: "200",
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it("cuts a client that sends its headers slowly after the headers timeout, with a 408", async () => {
    const raw = await connect(h.url);
    const lines = [
      "GET /healthz HTTP/1.1\r\nHost: x\r\n",
      ...Array.from({ length: 100 }, (_, i) => `X-Slow-${i}: 1\r\n`),
    ];
    const written = trickle(raw.socket, lines, 100);
    const closedAt = await within(raw.closed, 5_000);
    expect(closedAt).not.toBe("timeout");
    expect(closedAt as number).toBeGreaterThanOrEqual(400);
    // Well before HTTP_REQUEST_TIMEOUT_MS (3 s), which would cut slow headers too.
    expect(closedAt as number).toBeLessThan(2_500);
    expect(await written).toBeLessThan(lines.length);
    expect(raw.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("cuts a client that sends its body slowly after the request timeout", async () => {
    const raw = await connect(h.url);
    raw.socket.write(
      "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n",
    );
    const written = trickle(
      raw.socket,
      Array.from({ length: 100 }, () => " "),
      100,
    );
    const closedAt = await within(raw.closed, 8_000);
    expect(closedAt).not.toBe("timeout");
    expect(closedAt as number).toBeGreaterThanOrEqual(2_900);
    expect(await written).toBeLessThan(100);
  });

  it("closes an idle keep-alive connection after the keep-alive timeout", async () => {
    const raw = await connect(h.url);
    raw.socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
    expect(await eventually(async () => raw.received().includes("\r\n\r\n"))).toBe(true);
    const answeredAt = Date.now();
    expect(raw.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(await within(raw.closed, 3_000)).not.toBe("timeout");
    expect(Date.now() - answeredAt).toBeGreaterThanOrEqual(200);
  });

  it("never cuts an event stream, which lasts longer than the request timeout", { timeout: 20_000 }, async () => {
    const { key, jobId } = await queuedJob(h);
    const stream = await openStream(h.url, key, jobId);
    expect(stream.status).toBe(200);
    // Keep-alive comments still arriving well after HTTP_REQUEST_TIMEOUT_MS (3 s) passed.
    expect(await eventually(async () => stream.chunks.some((t) => t > 4_500), 10_000)).toBe(true);
    expect(stream.ended()).toBe(false);
    stream.close();
  });
});

describe("connection cap", () => {
  let h: ApiHarness;
  const MAX = 3;
  beforeAll(async () => {
    h = await startApiHarness("http-max-conn", { HTTP_MAX_CONNECTIONS: String(MAX), SSE_KEEPALIVE_MS: "200" });
  });
  afterAll(async () => {
    await h?.close();
  });

  const connections = () =>
    new Promise<number>((resolve, reject) =>
      h.api.server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
    );

  it("closes connections beyond HTTP_MAX_CONNECTIONS while an open event stream keeps working", async () => {
    const { key, jobId } = await queuedJob(h);
    expect(await eventually(async () => (await connections()) === 0)).toBe(true);
    const stream = await openStream(h.url, key, jobId);
    expect(stream.status).toBe(200);
    const idle = [await connect(h.url), await connect(h.url)];
    expect(await eventually(async () => (await connections()) === MAX)).toBe(true);

    const refused = await connect(h.url);
    refused.socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(await within(refused.closed, 3_000)).not.toBe("timeout");
    expect(refused.received()).toBe("");

    const seen = stream.chunks.length;
    expect(await eventually(async () => stream.chunks.length > seen, 5_000)).toBe(true);
    expect(stream.ended()).toBe(false);

    // A freed connection is taken again.
    idle[0]?.socket.destroy();
    expect(await eventually(async () => (await connections()) === MAX - 1)).toBe(true);
    const next = await connect(h.url);
    next.socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    await within(next.closed, 3_000);
    expect(next.received()).toMatch(/^HTTP\/1\.1 200 /);
    stream.close();
    idle[1]?.socket.destroy();
  });
});
