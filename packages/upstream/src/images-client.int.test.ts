import { type Simulator, startSimulator } from "@darkroom/upstream-simulator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { streamChatImage } from "./chat-stream";
import { sniffImage } from "./image-sniff";
import { decodeImageBase64, type GenerateImagesOptions, generateImages } from "./images-client";
import { expectUpstreamFailure } from "./test-support";

let sim: Simulator;
let counter = 0;

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 1 });
});
afterAll(async () => {
  await sim.close();
});

function options(prompt: string, extra: Partial<GenerateImagesOptions> = {}): GenerateImagesOptions {
  counter += 1;
  return {
    baseUrl: sim.url,
    apiKey: "sk-test",
    prompt: `${prompt} #${counter}`,
    n: 1,
    size: "1024x1024",
    quality: "auto",
    timeoutMs: 10_000,
    ...extra,
  };
}

describe("generateImages", () => {
  it("decodes n verified PNGs of the requested size with usage", async () => {
    const result = await generateImages(options("a lighthouse", { n: 2, size: "1536x1024", quality: "high" }));
    expect(result.images).toHaveLength(2);
    for (const image of result.images)
      expect(sniffImage(image)).toEqual({ contentType: "image/png", width: 1536, height: 1024 });
    expect(result.images[0]?.equals(result.images[1] ?? Buffer.alloc(0))).toBe(false);
    expect(result.usage).toMatchObject({ input_tokens_details: { image_tokens: 0 } });
    expect(result.usage?.total_tokens).toBeGreaterThan(0);
    expect(result.requestId).toBe(sim.calls.at(-1)?.requestId);
    expect(sim.calls.at(-1)).toMatchObject({ path: "/v1/images/generations", model: "gpt-image-1" });
  });

  const cases: Array<[string, string, string, boolean]> = [
    ["gen_empty", "no_image", "bad_fallback_result", true],
    ["gen_badb64", "no_image", "bad_fallback_result", true],
    ["gen_url", "no_image", "bad_fallback_result", true],
    ["gen400policy", "content_policy", "content_policy", false],
    ["gen400param", "bad_request", "request_bug", false],
    ["gen429", "upstream_rate_limited", "rate_limited", true],
    ["gen500", "upstream_error", "transient_upstream", true],
    ["http401", "upstream_auth", "auth", false],
    ["reset", "upstream_unavailable", "network", true],
  ];
  for (const [kind, code, errorClass, retryable] of cases) {
    it(`${kind} -> ${code}/${errorClass}`, async () => {
      const error = await expectUpstreamFailure(generateImages(options(`x [[sim gen_script=${kind}]]`)));
      expect(error).toMatchObject({ code, errorClass, retryable });
    });
  }

  it("shares the script counter with the chat call for the same prompt", async () => {
    const base = options("shared [[sim script=http503,gen_empty]]");
    // Call 1, the chat stream (Darkroom appends the generate sentence): the script's first entry.
    const chat = await expectUpstreamFailure(
      streamChatImage({
        baseUrl: base.baseUrl,
        apiKey: base.apiKey,
        model: "gpt-4o-image",
        prompt: base.prompt,
        n: 1,
        size: "1024x1024",
        connectTimeoutMs: 2000,
        firstByteTimeoutMs: 5000,
        idleTimeoutMs: 5000,
      }),
    );
    expect(chat.httpStatus).toBe(503);
    // Call 2, the images fallback: the second entry, which a counter of its own would not reach.
    const second = await expectUpstreamFailure(generateImages(base));
    expect(second).toMatchObject({ code: "no_image", errorClass: "bad_fallback_result" });
    // Call 3: past the script's end.
    expect((await generateImages(base)).images).toHaveLength(1);
    const calls = sim.calls.filter((c) => c.prompt?.startsWith(base.prompt)).map((c) => [c.path, c.call, c.kind]);
    expect(calls).toEqual([
      ["/v1/chat/completions", 1, "http503"],
      ["/v1/images/generations", 2, "gen_empty"],
      ["/v1/images/generations", 3, "ok"],
    ]);
  });

  it("times out a slow call", async () => {
    const error = await expectUpstreamFailure(
      generateImages(options("slow [[sim gen_script=gen_slow gen_slow_ms=2000]]", { timeoutMs: 200 })),
    );
    expect(error).toMatchObject({ code: "upstream_timeout", errorClass: "network", retryable: true });
  });

  it("rejects base64 that is not an image", () => {
    expect(decodeImageBase64(Buffer.from("hello world").toString("base64"))).toBeNull();
    expect(decodeImageBase64("")).toBeNull();
    expect(decodeImageBase64("abc")).toBeNull();
  });
});
