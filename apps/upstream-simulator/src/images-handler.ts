import type { RequestContext, SimContext } from "./context";
import { type FaultKind, intDirective, parseDirectives, parseScript } from "./directives";
import { sendHttpFault } from "./faults";
import { envelope, parseJsonBody, sendJson, sleep } from "./http-helpers";
import { makeImageId } from "./image-store";

const SIZES: Record<string, { width: number; height: number }> = {
  "1024x1024": { width: 1024, height: 1024 },
  "1536x1024": { width: 1536, height: 1024 },
  "1024x1536": { width: 1024, height: 1536 },
  auto: { width: 1024, height: 1024 },
};

/** Answers `POST /v1/images/generations` like gpt-image-1 behind CometAPI, with the scheduled fault. */
export async function handleImages(sim: SimContext, ctx: RequestContext, raw: string): Promise<void> {
  const { res, requestId, signal, record } = ctx;
  const body = parseJsonBody(res, raw, requestId);
  if (body === null) return;
  const model = typeof body.model === "string" ? body.model : "dall-e-2";
  const prompt = typeof body.prompt === "string" ? body.prompt : "";
  record.model = model;
  record.prompt = prompt;
  if (prompt.trim() === "") {
    sendJson(res, 400, envelope("prompt is required", requestId, "invalid_request"), requestId);
    return;
  }
  const d = parseDirectives(prompt);
  let kind: FaultKind;
  let call: number;
  try {
    const own = d.gen_script !== undefined;
    ({ kind, call } = sim.scripts.next(
      own ? "images" : "shared",
      prompt.trim(),
      parseScript(own ? d.gen_script : d.script),
    ));
    kind = sim.modelFaults.next(model, "gen500") ?? kind;
  } catch (error) {
    sendJson(res, 400, envelope(String(error), requestId, "invalid_request"), requestId);
    return;
  }
  record.kind = kind;
  record.call = call;
  const delay = kind === "gen_slow" ? intDirective(d, "gen_slow_ms", 5000) : intDirective(d, "gen_ms", 0);
  if (delay > 0 && !(await sleep(delay, signal))) return;
  if (kind === "reset") {
    ctx.markServerClosed();
    ctx.req.socket.destroy();
    return;
  }
  if (kind === "noheaders") {
    await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    return;
  }
  if (sendHttpFault(res, kind, d, requestId, model, `${sim.baseUrl()}/v1/images/generations/`)) return;
  const size = SIZES[typeof body.size === "string" ? body.size : "auto"];
  if (size === undefined) {
    sendJson(
      res,
      400,
      envelope(
        `Invalid value: '${String(body.size)}'. Supported values are: '1024x1024', '1024x1536', '1536x1024', and 'auto'.`,
        requestId,
        "invalid_value",
      ),
      requestId,
    );
    return;
  }
  const n = typeof body.n === "number" && Number.isInteger(body.n) && body.n >= 1 && body.n <= 10 ? body.n : 1;
  const ids = Array.from({ length: n }, (_, index) =>
    makeImageId(`gen\u0000${prompt}\u0000${call}\u0000${index}`, size.width, size.height),
  );
  let data: unknown[];
  if (kind === "gen_empty") data = [];
  else if (kind === "gen_badb64") data = ids.map(() => ({ b64_json: "iVBORw0KGgo!!not*base64" }));
  else if (kind === "gen_url") data = ids.map((id) => ({ url: `${sim.baseUrl()}/cdn/${id}.png` }));
  else data = ids.map((id) => ({ b64_json: sim.images.png(id)?.toString("base64") ?? "" }));
  const text_tokens = Math.ceil(prompt.length / 4);
  const output_tokens = 4160 * n;
  sendJson(
    res,
    200,
    JSON.stringify({
      created: Math.floor(Date.now() / 1000),
      data,
      usage: {
        input_tokens: text_tokens,
        input_tokens_details: { text_tokens, image_tokens: 0 },
        output_tokens,
        total_tokens: text_tokens + output_tokens,
      },
    }),
    requestId,
  );
}
