import { describe, expect, it } from "vitest";
import { isBusyText } from "./busy-text";
import { ChatStreamState, STREAM_HEAD_MAX_CHARS } from "./chat-stream-state";
import { classifyErrorBody, classifyHttpError } from "./classify";
import { IncrementalProgressParser, parseProgress } from "./progress-parser";

/** A stream state fed `text` as content pieces, then stop and [DONE]. */
function finished(text: string, pieces = 1): ChatStreamState {
  const state = new ChatStreamState(1, 200);
  const size = Math.ceil(text.length / pieces);
  for (let i = 0; i < text.length; i += size) {
    const content = text.slice(i, i + size);
    const frame = JSON.stringify({ choices: [{ index: 0, delta: { content }, finish_reason: null }] });
    state.captureRaw(`data: ${frame}\n\n`);
    state.handleEvent(undefined, frame);
  }
  state.handleEvent(undefined, JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }));
  state.handleEvent(undefined, "[DONE]");
  return state;
}

describe("busy text", () => {
  const busy = [
    "Processing image\n\nLots of people are creating images right now, so this might take a bit. We'll notify you when your image is ready.",
    "We're experiencing high demand. Please try again later.",
    "目前有很多人在创建图片，因此可能需要一点时间。图片准备好后我们会通知你。",
    "当前使用人数较多，请稍后再试",
    "服务器繁忙，请稍后重试",
  ];
  const notBusy = [
    "> ❌ Generation failed: this request was rejected because it may violate our content policy.",
    "I can't help with that request.",
    ">🕐 Queuing....\n>⚡ Generating...\n>🏃 Progress 7....13....",
    "> 进度 **34%**",
  ];

  it("recognises the overload notices in English and Chinese, and nothing else", () => {
    for (const text of busy) expect(isBusyText(text), text).toBe(true);
    for (const text of notBusy) expect(isBusyText(text), text).toBe(false);
  });

  it("a stream ending with busy text and no image is upstream_busy, retryable, not no_image", () => {
    for (const text of busy) {
      const outcome = finished(text, 3).conclude();
      expect(outcome, text).toMatchObject({ code: "upstream_busy", errorClass: "busy", retryable: true });
      if ("imageUrls" in outcome) throw new Error("unreachable");
      expect(outcome.message).not.toContain(text.slice(0, 12));
      expect(outcome.detail).toContain(text.replace(/\s+/g, " ").trim().slice(0, 20));
    }
  });

  it("content-policy text wins over busy words", () => {
    const outcome = finished("Your request violates our content policy. Please try again later.").conclude();
    expect(outcome).toMatchObject({ code: "content_policy" });
  });
});

describe("newer markers", () => {
  const newer =
    "> ID: `3f2a9c1e-7b4d-4e8a-9c2f-1a2b3c4d5e6f`\n\n> 🎨 生成中.....\n\n![gen_01](https://pro.filesystem.site/cdn/20260508/demo.png)\n\n[点击下载](https://pro.filesystem.site/cdn/download/20260508/demo.png)\n";

  it("reads the ID line as queuing, 🎨 生成中 as generating, and the pro.filesystem.site image as the result", () => {
    expect(parseProgress("> ID: `3f2a9c1e-7b4d`\n").stage).toBe("queuing");
    expect(parseProgress("> ID: `3f2a`\n\n> 🎨 生成中...").stage).toBe("generating");
    expect(parseProgress("> 🎨 Generating..").stage).toBe("generating");
    expect(parseProgress(newer)).toMatchObject({
      stage: "complete",
      complete: true,
      imageUrls: ["https://pro.filesystem.site/cdn/20260508/demo.png"],
    });
  });

  const downloadOnly =
    "\n\n> 生成中...\n\n![Generated Image](https://pro.filesystem.site/cdn/download/20260521/only.png)\n";

  it("takes a /cdn/download/ image as the result only when no other image is shown", () => {
    expect(parseProgress(downloadOnly)).toMatchObject({
      complete: true,
      imageUrls: ["https://pro.filesystem.site/cdn/download/20260521/only.png"],
    });
    const both = "![a](https://filesystem.site/cdn/d/a.png)\n![b](https://filesystem.site/cdn/download/d/a.png)\n";
    expect(parseProgress(both).imageUrls).toEqual(["https://filesystem.site/cdn/d/a.png"]);
  });

  it("the incremental parser agrees at every prefix", () => {
    for (const text of [newer, downloadOnly]) {
      const parser = new IncrementalProgressParser(1);
      for (let i = 0; i < text.length; i += 7) {
        expect(parser.push(text.slice(i, i + 7))).toEqual(parseProgress(text.slice(0, i + 7), 1));
      }
    }
  });
});

describe("unrecognised streams", () => {
  it("keep the first 2 KiB of the raw stream when nothing in it was a marker, a number or an image", () => {
    const text = `> 🖌️ Rendering your picture ⏳\n${"> Stage 2 of 4: composing\n".repeat(200)}`;
    const outcome = finished(text, 40).conclude();
    expect(outcome).toMatchObject({ code: "no_image" });
    if ("imageUrls" in outcome) throw new Error("unreachable");
    expect(outcome.unrecognisedStreamHead).toHaveLength(STREAM_HEAD_MAX_CHARS);
    expect(outcome.unrecognisedStreamHead?.startsWith("data: {")).toBe(true);
    expect(outcome.unrecognisedStreamHead).toContain("Rendering your picture");
  });

  it("are not flagged when the stream showed known progress, or said it was busy", () => {
    const stuck = finished(">🕐 Queuing....\n>⚡ Generating...\n>🏃 Progress 7....13....").conclude();
    expect(stuck).toMatchObject({ code: "no_image" });
    expect((stuck as { unrecognisedStreamHead?: string }).unrecognisedStreamHead).toBeUndefined();
    const busy = finished("Lots of people are creating images right now").conclude();
    expect(busy).toMatchObject({ code: "upstream_busy" });
    expect((busy as { unrecognisedStreamHead?: string }).unrecognisedStreamHead).toBeUndefined();
  });

  it("stop keeping the raw head once progress was recognised (memory held per stream in flight)", () => {
    const state = new ChatStreamState(1, 200);
    const feed = (content: string) => {
      const frame = JSON.stringify({ choices: [{ index: 0, delta: { content }, finish_reason: null }] });
      state.captureRaw(`data: ${frame}\n\n`);
      state.handleEvent(undefined, frame);
    };
    feed("```json\n{}\n```\n");
    expect(state.rawHead.length).toBeGreaterThan(0);
    feed(">🕐 Queuing....\n");
    expect(state.rawHead).toBe("");
    feed(">🏃 Progress 7....13....");
    expect(state.rawHead).toBe("");
  });
});

describe("upstream words stay in detail", () => {
  const raw: Array<[string, Parameters<typeof classifyHttpError>[0], string]> = [
    [
      "401 Invalid token",
      {
        status: 401,
        headers: {},
        body: '{"error":{"message":"Invalid token (request id: R1)","type":"comet_api_error"}}',
      },
      "Invalid token",
    ],
    [
      "403 quota",
      {
        status: 403,
        headers: {},
        body: '{"error":{"message":"user quota is not enough","code":"insufficient_user_quota"}}',
      },
      "user quota is not enough",
    ],
    [
      "502 Cloudflare page",
      {
        status: 502,
        headers: { "content-type": "text/html" },
        body: "<!DOCTYPE html><html><title>api.cometapi.com | 502: Bad gateway</title><body>Cloudflare</body></html>",
      },
      "Cloudflare",
    ],
    ["404 HTML", { status: 404, headers: {}, body: "<html><body>Not Found nginx</body></html>" }, "nginx"],
    [
      "400 bad request",
      { status: 400, headers: {}, body: '{"error":{"message":"temperature must be a number"}}' },
      "temperature",
    ],
    [
      "301 redirect",
      { status: 301, headers: { location: "https://relay.example/v1/" }, body: "<html>moved</html>" },
      "relay.example",
    ],
  ];

  it("classifyHttpError writes Darkroom's own message and keeps the upstream text as detail", () => {
    for (const [name, input, words] of raw) {
      const init = classifyHttpError(input);
      expect(init.message, name).not.toContain(words);
      expect(init.message, name).not.toMatch(/request id|<html|comet/i);
      expect(init.detail, name).toContain(words);
    }
  });

  it("classifyErrorBody (mid-stream, legacy 200) does the same", () => {
    const init = classifyErrorBody(
      { message: "The server had an error (request id: R2)", type: "server_error", code: undefined },
      { httpStatus: 200, requestId: undefined },
      true,
    );
    expect(init.message).toBe("The upstream reported an error in the middle of the stream.");
    expect(init.detail).toContain("The server had an error");
    expect(init.requestId).toBe("R2");
  });
});
