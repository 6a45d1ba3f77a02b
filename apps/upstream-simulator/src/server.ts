import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { handleImageGet, isImagePath } from "./cdn-handler";
import { handleChat, recordChat } from "./chat-handler";
import type { CallRecord, RequestContext, SimContext, SimQuota } from "./context";
import { parseDirectives, parseGenerateSentence, parseScript, ScriptBook } from "./directives";
import {
  bearerToken,
  envelope,
  newRequestId,
  notFoundPage,
  parseJsonBody,
  readRequestBody,
  sendHtml,
  sendJson,
} from "./http-helpers";
import { ImageStore } from "./image-store";
import { handleImages } from "./images-handler";
import { type ModelFault, ModelFaults } from "./model-faults";

/** Options of {@link startSimulator}. */
export interface SimulatorOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** Delay between progress steps, ms. */
  stepMs?: number;
  /** Interval of `: PING` keep-alive comments, ms. */
  pingMs?: number;
  /** Base of the image URLs the simulator hands out; defaults to its own `http://host:port`. */
  publicBaseUrl?: string;
}

/** A running simulator. */
export interface Simulator {
  url: string;
  port: number;
  /** Every request received, in arrival order. */
  calls: CallRecord[];
  /** Sets the key's quota (part of it, the rest kept); also `POST /_sim/quota` with the same JSON. */
  setQuota(quota: Partial<SimQuota>): void;
  /** Makes a model fail at a set rate, whatever the prompt; also `POST /_sim/model-faults`. */
  setModelFault(fault: ModelFault): void;
  close(): Promise<void>;
}

/** The quota of a new simulator: unlimited, never expires. */
const UNLIMITED: SimQuota = { total_available: 0, unlimited_quota: true, expires_at: 0 };

/** True when the quota no longer allows a call: none left (and not unlimited), or expired. */
function quotaUsedUp(quota: SimQuota): boolean {
  if (quota.expires_at > 0 && quota.expires_at * 1000 <= Date.now()) return true;
  return !quota.unlimited_quota && quota.total_available <= 0;
}

/** Applies the known fields of `input` to the quota; throws naming a field of the wrong type. */
function updateQuota(quota: SimQuota, input: Record<string, unknown>): void {
  for (const [field, type] of [
    ["total_available", "number"],
    ["unlimited_quota", "boolean"],
    ["expires_at", "number"],
  ] as const) {
    if (input[field] === undefined) continue;
    if (typeof input[field] !== type) throw new Error(`${field} must be a ${type}`);
    (quota as unknown as Record<string, unknown>)[field] = input[field];
  }
}

function userContent(messages: unknown): string {
  if (!Array.isArray(messages)) return "";
  const users = messages.filter(
    (m): m is Record<string, unknown> =>
      typeof m === "object" && m !== null && (m as Record<string, unknown>).role === "user",
  );
  const content = users.at(-1)?.content;
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((part: unknown) =>
      typeof part === "object" && part !== null ? (part as Record<string, unknown>).text : undefined,
    )
    .filter((text): text is string => typeof text === "string")
    .join("\n");
}

/** Starts a CometAPI-compatible simulator (chat SSE for gpt-4o-image, images API, file host). */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const host = options.host ?? "127.0.0.1";
  const calls: CallRecord[] = [];
  const sockets = new Set<Socket>();
  const connections = new WeakMap<Socket, number>();
  let accepted = 0;
  const closing = new AbortController();
  let baseUrl = options.publicBaseUrl ?? "";
  const sim: SimContext = {
    quota: { ...UNLIMITED },
    baseUrl: () => baseUrl,
    images: new ImageStore(),
    imageFaults: new Map(),
    imageExpiry: new Map(),
    scripts: new ScriptBook(),
    modelFaults: new ModelFaults(),
    stepMs: options.stepMs ?? 150,
    pingMs: options.pingMs ?? 1000,
  };

  const server = createServer((req, res) => {
    void route(sim, req, res, calls, closing.signal, connections.get(req.socket) ?? 0).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, envelope(`simulator error: ${String(error)}`, newRequestId()), "sim");
      else res.destroy();
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    accepted += 1;
    connections.set(socket, accepted);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  if (baseUrl === "") baseUrl = url;
  return {
    url,
    port,
    calls,
    setQuota: (quota) => updateQuota(sim.quota, quota),
    setModelFault: (fault) => sim.modelFaults.set({ ...fault }),
    close: async () => {
      closing.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

async function route(
  sim: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
  calls: CallRecord[],
  closing: AbortSignal,
  connection: number,
): Promise<void> {
  const path = new URL(req.url ?? "/", "http://simulator").pathname;
  const record: CallRecord = {
    method: req.method ?? "GET",
    connection,
    path,
    model: null,
    prompt: null,
    startedAt: Date.now(),
    closedByClient: false,
  };
  calls.push(record);
  // Aborted when the response closes: the client hung up, or `close()` destroyed every socket (a
  // listener on `closing` per request would do nothing more, and Node warns of a leak past ten).
  const controller = new AbortController();
  let serverClosed = false;
  res.on("close", () => {
    record.closedAt = Date.now();
    if (!res.writableFinished && !serverClosed && !closing.aborted) record.closedByClient = true;
    controller.abort();
  });
  const requestId = newRequestId();
  record.requestId = requestId;
  const ctx: RequestContext = {
    req,
    res,
    record,
    signal: controller.signal,
    requestId,
    markServerClosed: () => {
      serverClosed = true;
    },
  };

  if (req.method === "GET" && isImagePath(path)) return handleImageGet(sim, ctx, path);
  if (path === "/api/usage/token" || path === "/_sim/quota") return handleQuota(sim, ctx, path);
  if (path === "/_sim/model-faults") return handleModelFaults(sim, ctx);
  const api = req.method === "POST" && (path === "/v1/chat/completions" || path === "/v1/images/generations");
  if (!api) {
    sendHtml(res, 404, notFoundPage(path));
    return;
  }
  const raw = await readRequestBody(req);
  if (bearerToken(req) === null) {
    sendJson(res, 401, envelope("未提供令牌 (no token provided)", requestId), requestId);
    return;
  }
  if (quotaUsedUp(sim.quota)) {
    // What CometAPI (new-api) answers when the key's own quota is used up.
    sendJson(res, 403, envelope("user quota is not enough", requestId, "insufficient_user_quota"), requestId);
    return;
  }
  if (path === "/v1/images/generations") return handleImages(sim, ctx, raw);

  const body = parseJsonBody(res, raw, requestId);
  if (body === null) return;
  const model = typeof body.model === "string" ? body.model : "";
  if (model === "") {
    sendJson(res, 400, envelope("model name is required", requestId), requestId);
    return;
  }
  const prompt = userContent(body.messages);
  const directives = parseDirectives(prompt);
  let script: ReturnType<typeof parseScript>;
  try {
    script = parseScript(directives.script);
  } catch (error) {
    sendJson(res, 400, envelope(String(error), requestId, "invalid_request"), requestId);
    return;
  }
  const scripted = sim.scripts.next("shared", parseGenerateSentence(prompt).userPrompt, script);
  const { call } = scripted;
  const kind = sim.modelFaults.next(model, "http500") ?? scripted.kind;
  const streamOptions = body.stream_options;
  const chat = {
    model,
    prompt,
    stream: body.stream === true,
    includeUsage:
      typeof streamOptions === "object" &&
      streamOptions !== null &&
      (streamOptions as Record<string, unknown>).include_usage === true,
    directives,
    kind,
    call,
  };
  recordChat(record, chat);
  await handleChat(sim, ctx, chat);
}

/**
 * A `POST /_sim/…` setting: `apply` takes the JSON body (throwing names a wrong field, answered 400),
 * then the setting as it now stands is answered.
 */
async function handleSetting(
  ctx: RequestContext,
  apply: (body: Record<string, unknown>) => void,
  current: () => unknown,
): Promise<void> {
  const { req, res, requestId } = ctx;
  if (req.method !== "POST") {
    sendJson(res, 405, envelope("use POST with a JSON body", requestId), requestId);
    return;
  }
  const body = parseJsonBody(res, await readRequestBody(req), requestId);
  if (body === null) return;
  try {
    apply(body);
  } catch (error) {
    sendJson(res, 400, envelope((error as Error).message, requestId, "invalid_request"), requestId);
    return;
  }
  sendJson(res, 200, JSON.stringify(current()), requestId);
}

/**
 * `POST /_sim/model-faults`: a JSON body `{model, fail_rate, kind?}` makes the model fail at that
 * rate (see ModelFaults); answers every model's setting, 400 naming a wrong field.
 */
function handleModelFaults(sim: SimContext, ctx: RequestContext): Promise<void> {
  return handleSetting(
    ctx,
    (body) => sim.modelFaults.set(body),
    () => sim.modelFaults.list(),
  );
}

/**
 * `GET /api/usage/token`: the key's quota in new-api's shape. `POST /_sim/quota` sets it (a JSON
 * body with any of `total_available`, `unlimited_quota`, `expires_at`) and answers the new quota.
 */
async function handleQuota(sim: SimContext, ctx: RequestContext, path: string): Promise<void> {
  const { req, res, requestId } = ctx;
  if (path === "/_sim/quota") {
    await handleSetting(
      ctx,
      (body) => updateQuota(sim.quota, body),
      () => sim.quota,
    );
    return;
  }
  if (req.method !== "GET") {
    sendHtml(res, 404, notFoundPage(path));
    return;
  }
  if (bearerToken(req) === null) {
    sendJson(res, 401, envelope("未提供令牌 (no token provided)", requestId), requestId);
    return;
  }
  const { total_available, unlimited_quota, expires_at } = sim.quota;
  sendJson(
    res,
    200,
    JSON.stringify({
      code: true,
      message: "ok",
      data: {
        object: "token_usage",
        name: "simulator",
        total_granted: total_available,
        total_used: 0,
        total_available,
        unlimited_quota,
        model_limits: {},
        model_limits_enabled: false,
        expires_at,
      },
    }),
    requestId,
  );
}
