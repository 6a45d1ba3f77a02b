// The benchmark's upstream stand-in, in a process of its own: it answers the worker's
// chat-completions call with the gpt-4o-image progress text Darkroom parses (the same markers as
// the simulator's progress-text.ts) and serves the result image itself. It costs next to nothing:
// one PNG rendered at start, made unique per job by a tEXt chunk naming it (no re-deflate), one
// timer per stream for paced steps, and pre-built chunk text.
//
// A prompt directive `[[bench steps=N step_ms=M tag=T]]` overrides the process's defaults
// (BENCH_STEPS, BENCH_STEP_MS). With a tag, the instant each progress chunk was written is kept
// and served by `GET /bench/sent?tags=a,b` as `{ tag: [[percent, epochMs], ...] }`.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { deflateSync } from "node:zlib";
import { pngChunk } from "@darkroom/upstream-simulator";
import { monotonicMs } from "./time";

const DEFAULT_STEPS = Number(process.env.BENCH_STEPS ?? 5);
const DEFAULT_STEP_MS = Number(process.env.BENCH_STEP_MS ?? 0);
const DIRECTIVE = /\[\[bench([^\]]*)\]\]/;

/** A flat 1024x1024 RGB picture, deflated once. */
function renderBase(): { body: Buffer; iend: Buffer } {
  const size = 1024;
  const raw = Buffer.alloc((size * 3 + 1) * size, 0x5a);
  for (let y = 0; y < size; y++) raw[y * (size * 3 + 1)] = 0;
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.writeUInt8(8, 8);
  header.writeUInt8(2, 9);
  const body = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", header),
    pngChunk("IDAT", deflateSync(raw)),
  ]);
  return { body, iend: pngChunk("IEND", Buffer.alloc(0)) };
}

const base = renderBase();
const sent = new Map<string, [number, number][]>();
const stats = { chats: 0, images: 0, open: 0 };

/** Rising progress numbers below 100, one per step. */
function percents(steps: number): number[] {
  return Array.from({ length: steps }, (_, i) => Math.max(1, Math.floor(((i + 1) * 98) / (steps + 1))));
}

function frame(content: string, finish: string | null = null): string {
  return `data: ${JSON.stringify({
    id: "chatcmpl-bench",
    object: "chat.completion.chunk",
    created: 0,
    model: "gpt-4o-image",
    choices: [{ index: 0, delta: finish === null ? { content } : {}, logprobs: null, finish_reason: finish }],
  })}\n\n`;
}

const OPENING = frame(
  '```json\n{\n  "prompt": "bench",\n  "ratio": "1:1",\n  "n": 1\n}\n```\n\n>🕐 Queuing.\n\n>⚡ Generating.\n\n>🏃 Progress ',
);
const STOP = `${frame("", "stop")}data: [DONE]\n\n`;

function directives(prompt: string): { steps: number; stepMs: number; tag: string | null } {
  const out = { steps: DEFAULT_STEPS, stepMs: DEFAULT_STEP_MS, tag: null as string | null };
  const block = DIRECTIVE.exec(prompt)?.[1] ?? "";
  for (const pair of block.trim().split(/\s+/)) {
    const [key, value = ""] = pair.split("=");
    if (key === "steps") out.steps = Math.min(98, Math.max(0, Number(value) || 0));
    if (key === "step_ms") out.stepMs = Math.max(0, Number(value) || 0);
    if (key === "tag" && value !== "") out.tag = value;
  }
  return out;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
    req.on("error", reject);
  });
}

async function chat(req: IncomingMessage, res: ServerResponse, origin: string): Promise<void> {
  const body = JSON.parse(await readBody(req)) as { messages?: { content?: unknown }[] };
  const prompt = String(body.messages?.[0]?.content ?? "");
  const { steps, stepMs, tag } = directives(prompt);
  stats.chats += 1;
  stats.open += 1;
  const id = tag ?? randomBytes(8).toString("hex");
  const record: [number, number][] | null = tag === null ? null : [];
  if (tag !== null && record !== null) sent.set(tag, record);
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  res.write(OPENING);
  const values = percents(steps);
  let index = 0;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  res.on("close", () => {
    closed = true;
    if (timer !== null) clearTimeout(timer);
    stats.open -= 1;
  });
  const step = () => {
    timer = null;
    if (closed) return;
    while (index < values.length) {
      const value = values[index] ?? 0;
      index += 1;
      res.write(frame(`${value}.`));
      record?.push([value, monotonicMs()]);
      if (stepMs > 0 && index < values.length) {
        timer = setTimeout(step, stepMs);
        return;
      }
    }
    res.write(frame(`\n\n> ✅ Generation complete\n\n![image](${origin}/img/${id}.png)\n\n`));
    res.end(STOP);
  };
  if (stepMs > 0) timer = setTimeout(step, stepMs);
  else step();
}

function image(res: ServerResponse, id: string): void {
  stats.images += 1;
  const png = Buffer.concat([base.body, pngChunk("tEXt", Buffer.from(`bench\0${id}`, "latin1")), base.iend]);
  res.writeHead(200, { "content-type": "image/png", "content-length": png.length });
  res.end(png);
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://x");
  const origin = `http://${req.headers.host}`;
  if (req.method === "POST" && url.pathname === "/v1/chat/completions") {
    chat(req, res, origin).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: String(error), type: "server_error" } }));
    });
    return;
  }
  const img = /^\/img\/([\w-]+)\.png$/.exec(url.pathname);
  if (req.method === "GET" && img?.[1] !== undefined) return image(res, img[1]);
  if (url.pathname === "/bench/sent") {
    const tags = (url.searchParams.get("tags") ?? "").split(",").filter((t) => t !== "");
    const out: Record<string, [number, number][]> = {};
    for (const tag of tags) out[tag] = sent.get(tag) ?? [];
    res.writeHead(200, { "content-type": "application/json" });
    return void res.end(JSON.stringify(out));
  }
  if (url.pathname === "/bench/stats") {
    res.writeHead(200, { "content-type": "application/json" });
    return void res.end(JSON.stringify(stats));
  }
  res.writeHead(404).end();
});
server.requestTimeout = 0;
server.headersTimeout = 60_000;
server.keepAliveTimeout = 60_000;
server.listen({ port: Number(process.env.PORT ?? 0), host: "127.0.0.1", backlog: 8192 }, () => {
  console.log(`bench upstream listening on port ${(server.address() as AddressInfo).port}`);
});
process.on("SIGTERM", () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
