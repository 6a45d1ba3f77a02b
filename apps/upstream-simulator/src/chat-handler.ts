import { randomBytes } from "node:crypto";
import type { CallRecord, RequestContext, SimContext } from "./context";
import { type Directives, type FaultKind, intDirective, parseGenerateSentence } from "./directives";
import { sendHttpFault } from "./faults";
import { sleep } from "./http-helpers";
import { buildContentPlan, busyNotice, type ContentPlan, policyRefusal, unknownMarkersText } from "./progress-text";
import { planImages } from "./scenario";
import { SseWriter } from "./sse-writer";

/** A parsed chat request: the user text and the settings that shape the answer. */
export interface ChatRequest {
  model: string;
  prompt: string;
  stream: boolean;
  includeUsage: boolean;
  directives: Directives;
  kind: FaultKind;
  call: number;
}

const STREAM_FAULTS = new Set<FaultKind>([
  "midstream_error",
  "event_error",
  "vllm_error",
  "truncate",
  "reset_mid",
  "done_noimage",
  "content_filter",
  "policy_text",
  "stall",
  "stall_dots",
  "busy",
  "unknown_markers",
  "malformed_json",
]);

/** Stream faults that replace the whole answer, so they happen before its first step by default. */
const WHOLE_ANSWER_FAULTS = new Set<FaultKind>(["busy", "unknown_markers"]);

function usageFor(prompt: string, text: string) {
  const prompt_tokens = Math.ceil(prompt.length / 4);
  const completion_tokens = Math.ceil(text.length / 4);
  return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
}

/** Answers `POST /v1/chat/completions` for an image chat model, with the scheduled fault. */
export async function handleChat(sim: SimContext, ctx: RequestContext, chat: ChatRequest): Promise<void> {
  const { res, requestId, signal } = ctx;
  const d = chat.directives;
  const delay = chat.kind === "slow" ? intDirective(d, "slow_ms", 3000) : intDirective(d, "ttfb_ms", 0);
  if (delay > 0 && !(await sleep(delay, signal))) return;
  if (chat.kind === "reset") {
    ctx.markServerClosed();
    ctx.req.socket.destroy();
    return;
  }
  if (chat.kind === "noheaders") {
    await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    return;
  }
  // gen_* kinds belong to images/generations; on a chat call they answer normally.
  const httpKind = chat.kind.startsWith("gen") ? "ok" : chat.kind;
  if (sendHttpFault(res, httpKind, d, requestId, chat.model, `${sim.baseUrl()}/v1/chat/completions/`)) return;

  const { n, ratio, userPrompt } = parseGenerateSentence(chat.prompt);
  const seed = `${chat.prompt}\u0000${chat.call}`;
  const images = planImages(sim, seed, n, ratio, d, chat.kind);
  const lang = d.lang === "zh" ? "zh" : "en";
  const form = d.form === "asyncdata" || d.form === "percent" || d.form === "newer" ? d.form : "classic";
  const plan = buildContentPlan({
    lang,
    form,
    n,
    ratio,
    prompt: userPrompt.replace(/\[\[sim[^\]]*\]\]/g, "").trim(),
    seed,
    images: images.result,
    decoyUrl: images.decoyUrl,
    previewUrl: images.previewUrl,
  });
  const head = {
    id: `chatcmpl-${randomBytes(12).toString("hex")}`,
    created: Math.floor(Date.now() / 1000),
    model: chat.model,
  };
  if (!chat.stream || chat.kind === "wrongctype") {
    const text = plan.steps.flat().join("");
    const body = JSON.stringify({
      ...head,
      object: "chat.completion",
      choices: [{ index: 0, message: { role: "assistant", content: text }, logprobs: null, finish_reason: "stop" }],
      usage: usageFor(chat.prompt, text),
    });
    res.writeHead(200, { "content-type": "application/json", "x-request-id": requestId });
    res.end(body);
    return;
  }
  await streamPlan(sim, ctx, chat, plan, head, lang);
}

async function streamPlan(
  sim: SimContext,
  ctx: RequestContext,
  chat: ChatRequest,
  plan: ContentPlan,
  head: { id: string; created: number; model: string },
  lang: "en" | "zh",
): Promise<void> {
  const { res, signal, requestId } = ctx;
  const d = chat.directives;
  const stepMs = intDirective(d, "step_ms", sim.stepMs);
  res.writeHead(200, {
    "content-type": chat.kind === "textplain" ? "text/plain; charset=utf-8" : "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive",
    "x-accel-buffering": "no",
    "x-request-id": requestId,
  });
  res.flushHeaders();
  const writer = new SseWriter(
    res,
    {
      crlf: d.crlf === "1",
      nospace: d.nospace === "1",
      split: intDirective(d, "split", 0),
      splitDelayMs: intDirective(d, "split_delay_ms", 0),
    },
    signal,
  );
  const pingMs = intDirective(d, "ping_ms", sim.pingMs);
  const pingText = d.ping_text?.replace(/_/g, " ") ?? "PING";
  writer.startPing(pingMs, pingText);
  const usageNull = chat.includeUsage || d.usage_null === "1" ? { usage: null } : {};
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
    ...head,
    object: "chat.completion.chunk",
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...usageNull,
  });
  let text = "";
  const finish = async (reason: string): Promise<void> => {
    await writer.data(chunk({}, reason));
    if (chat.includeUsage && d.usage !== "0") {
      await writer.data({ ...head, object: "chat.completion.chunk", choices: [], usage: usageFor(chat.prompt, text) });
    }
    await writer.data("[DONE]");
  };
  try {
    await writer.data(chunk({ role: "assistant", content: "" }));
    const faultAt = STREAM_FAULTS.has(chat.kind)
      ? Math.min(
          plan.progressEnd,
          intDirective(
            d,
            "at",
            WHOLE_ANSWER_FAULTS.has(chat.kind)
              ? 0
              : chat.kind === "policy_text"
                ? 2
                : Math.floor(plan.progressEnd * 0.6),
          ),
        )
      : -1;
    for (const [index, step] of plan.steps.entries()) {
      if (index === faultAt) {
        const outcome = await injectStreamFault(ctx, writer, chat, (delta, reason) => chunk(delta, reason), {
          finish,
          lang,
          pingMs,
          pingText,
        });
        if (outcome === "stop") return;
      }
      for (const piece of step) {
        if (signal.aborted) return;
        text += piece;
        await writer.data(chunk({ content: piece }));
      }
      if (!(await sleep(stepMs, signal))) return;
    }
    await finish("stop");
  } finally {
    writer.stopPing();
    if (!signal.aborted && res.writable && !res.writableEnded) res.end();
  }
}

interface FaultHelpers {
  finish(reason: string): Promise<void>;
  lang: "en" | "zh";
  pingMs: number;
  pingText: string;
}

async function injectStreamFault(
  ctx: RequestContext,
  writer: SseWriter,
  chat: ChatRequest,
  chunk: (delta: Record<string, unknown>, reason?: string | null) => unknown,
  helpers: FaultHelpers,
): Promise<"stop" | "continue"> {
  const { res, signal, requestId } = ctx;
  const d = chat.directives;
  const serverError = {
    message: `The server had an error while processing your request. Sorry about that! (request id: ${requestId})`,
    type: "server_error",
    param: null,
    code: null,
  };
  switch (chat.kind) {
    case "midstream_error":
      await writer.data({ error: serverError });
      if (d.then_done === "1") await writer.data("[DONE]");
      return "stop";
    case "event_error":
      await writer.event("error", { error: serverError });
      return "stop";
    case "vllm_error":
      await writer.data({
        object: "error",
        message: serverError.message,
        type: "InternalServerError",
        param: null,
        code: 500,
      });
      return "stop";
    case "truncate":
    case "reset_mid":
      writer.partial(chunk({ content: "...." }), 40);
      if (chat.kind === "reset_mid") {
        ctx.markServerClosed();
        await sleep(20, signal);
        res.socket?.destroy();
      }
      return "stop";
    case "done_noimage":
      await helpers.finish("stop");
      return "stop";
    case "content_filter":
      await helpers.finish("content_filter");
      return "stop";
    case "policy_text":
      await writer.data(chunk({ content: policyRefusal(helpers.lang) }));
      await helpers.finish("stop");
      return "stop";
    case "stall": {
      if (d.stall_ping === "0") writer.stopPing();
      const stallMs = intDirective(d, "stall_ms", 0);
      if (stallMs === 0) {
        await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
        return "stop";
      }
      if (!(await sleep(stallMs, signal))) return "stop";
      writer.startPing(helpers.pingMs, helpers.pingText);
      return "continue";
    }
    case "stall_dots": {
      // Alive but not progressing (a relay polling a stuck task): pings go on and a dot is added to
      // the progress line every `dot_ms`, the number never moves. Resumes after `stall_ms` if given.
      const dotMs = Math.max(1, intDirective(d, "dot_ms", 500));
      const stallMs = intDirective(d, "stall_ms", 0);
      const until = stallMs === 0 ? Number.POSITIVE_INFINITY : Date.now() + stallMs;
      while (Date.now() < until) {
        if (!(await sleep(Math.min(dotMs, until - Date.now()), signal))) return "stop";
        if (Date.now() < until) await writer.data(chunk({ content: "." }));
      }
      return "continue";
    }
    case "busy":
      await writer.data(chunk({ content: busyNotice(helpers.lang) }));
      await helpers.finish("stop");
      return "stop";
    case "unknown_markers":
      await writer.data(chunk({ content: unknownMarkersText() }));
      await helpers.finish("stop");
      return "stop";
    case "malformed_json":
      for (let i = 0; i < intDirective(d, "malformed", 3); i += 1) {
        await writer.raw(`data: {"id":"chatcmpl-broken","choices":[{"delta":{"content":"\n\n`);
      }
      return "continue";
    default:
      return "continue";
  }
}

/** Fills the call record's model and prompt fields from a parsed chat request. */
export function recordChat(record: CallRecord, chat: Pick<ChatRequest, "model" | "prompt" | "kind" | "call">): void {
  record.model = chat.model;
  record.prompt = chat.prompt;
  record.kind = chat.kind;
  record.call = chat.call;
}
