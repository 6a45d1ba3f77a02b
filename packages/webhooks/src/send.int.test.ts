import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Dispatcher } from "undici";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { sendWebhook } from "./send";
import { generateWebhookSecret, verifyWebhook } from "./sign";
import { createGuardedDispatcher } from "./ssrf";

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

interface Receiver {
  url: string;
  received: { headers: IncomingMessage["headers"]; body: string }[];
}

const servers: Server[] = [];
const dispatcher = createGuardedDispatcher({ allowPrivate: true, timeoutMs: 10_000 });
const secret = generateWebhookSecret();
const body = JSON.stringify({ type: "job.succeeded", timestamp: new Date().toISOString(), data: { id: "job_1" } });

async function startReceiver(handler: Handler): Promise<Receiver> {
  const received: Receiver["received"] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      received.push({ headers: req.headers, body: text });
      handler(req, res, text);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("server has no TCP address");
  return { url: `http://127.0.0.1:${address.port}/hooks`, received };
}

function send(url: string, overrides: { timeoutMs?: number; dispatcher?: Dispatcher } = {}) {
  return sendWebhook({ url, secret, eventId: "evt_1", body, timeoutMs: 10_000, dispatcher, ...overrides });
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

afterAll(async () => {
  await dispatcher.close();
});

describe("sendWebhook: happy", () => {
  it("delivers a signed POST that the receiver can verify", async () => {
    const receiver = await startReceiver((_req, res) => res.writeHead(204).end());
    const result = await send(receiver.url);
    expect(result).toMatchObject({ ok: true, status: 204, error: null, retryAfterMs: null, gone: false });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);

    const [delivery] = receiver.received;
    expect(delivery?.body).toBe(body);
    expect(delivery?.headers["content-type"]).toBe("application/json");
    expect(delivery?.headers["user-agent"]).toBe("Darkroom-Webhooks/1");
    expect(delivery?.headers["webhook-id"]).toBe("evt_1");
    expect(() => verifyWebhook(secret, delivery?.headers ?? {}, delivery?.body ?? "")).not.toThrow();
  });

  it("keeps the first 1024 bytes of a long response body", async () => {
    const receiver = await startReceiver((_req, res) => res.writeHead(200).end("é".repeat(2000)));
    const result = await send(receiver.url);
    expect(result.ok).toBe(true);
    expect(result.responseBody).toBe("é".repeat(512));
    expect(Buffer.byteLength(result.responseBody)).toBe(1024);
  });
});

describe("sendWebhook: error", () => {
  it("reports a 500 with its Retry-After", async () => {
    const receiver = await startReceiver((_req, res) => res.writeHead(500, { "retry-after": "7" }).end("boom"));
    const result = await send(receiver.url);
    expect(result).toMatchObject({ ok: false, status: 500, responseBody: "boom", retryAfterMs: 7000, gone: false });
    expect(result.error).toContain("500");
  });

  it("honours Retry-After given as an HTTP date", async () => {
    const later = new Date(Date.now() + 120_000).toUTCString();
    const receiver = await startReceiver((_req, res) => res.writeHead(503, { "retry-after": later }).end());
    const result = await send(receiver.url);
    expect(result.retryAfterMs).toBeGreaterThan(100_000);
    expect(result.retryAfterMs).toBeLessThanOrEqual(120_000);
  });

  it("does not follow a redirect, and counts it as a failure", async () => {
    const target = await startReceiver((_req, res) => res.writeHead(200).end());
    const receiver = await startReceiver((_req, res) => res.writeHead(302, { location: target.url }).end());
    const result = await send(receiver.url);
    expect(result).toMatchObject({ ok: false, status: 302, error: `redirect to ${target.url} not followed` });
    expect(target.received).toHaveLength(0);
  });

  it("marks a 410 as gone", async () => {
    const receiver = await startReceiver((_req, res) => res.writeHead(410).end("unsubscribed"));
    expect(await send(receiver.url)).toMatchObject({ ok: false, status: 410, gone: true });
  });

  it("gives up on a slow receiver after timeoutMs", async () => {
    const receiver = await startReceiver((_req, res) => {
      setTimeout(() => res.writeHead(200).end(), 5_000).unref();
    });
    const result = await send(receiver.url, { timeoutMs: 300 });
    expect(result).toMatchObject({ ok: false, status: null, error: "timed out after 300 ms" });
    expect(result.durationMs).toBeGreaterThanOrEqual(290);
    expect(result.durationMs).toBeLessThan(2_000);
  });

  it("bounds the whole attempt, including a body that trickles in", async () => {
    const receiver = await startReceiver((_req, res) => {
      res.writeHead(200);
      const timer = setInterval(() => res.write("."), 50);
      res.on("close", () => clearInterval(timer));
    });
    const result = await send(receiver.url, { timeoutMs: 400 });
    expect(result).toMatchObject({ ok: false, status: 200, error: "timed out after 400 ms" });
    expect(result.durationMs).toBeLessThan(2_000);
  });

  it("reports a refused connection", async () => {
    const receiver = await startReceiver((_req, res) => res.end());
    const url = receiver.url;
    for (const server of servers.splice(0)) await new Promise<void>((resolve) => server.close(() => resolve()));
    expect(await send(url)).toMatchObject({ ok: false, status: null, error: "connection refused" });
  });
});

describe("sendWebhook: security", () => {
  it("is blocked from a private address without the receiver seeing a request", async () => {
    const receiver = await startReceiver((_req, res) => res.end());
    const guarded = createGuardedDispatcher({ allowPrivate: false, timeoutMs: 10_000 });
    try {
      const result = await send(receiver.url, { dispatcher: guarded });
      expect(result).toMatchObject({ ok: false, status: null, error: "blocked: is a loopback address (127.0.0.1)" });
      expect(receiver.received).toHaveLength(0);
    } finally {
      await guarded.close();
    }
  });
});
