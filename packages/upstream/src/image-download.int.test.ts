import { type Simulator, startSimulator } from "@darkroom/upstream-simulator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { streamChatImage } from "./chat-stream";
import { downloadImage, isHostAllowed } from "./image-download";
import { expectUpstreamFailure } from "./test-support";

let sim: Simulator;
let allowlist: string[];
let counter = 0;

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 1 });
  allowlist = [`127.0.0.1:${sim.port}`];
});
afterAll(async () => {
  await sim.close();
});

async function imageUrl(directive = ""): Promise<string> {
  counter += 1;
  const result = await streamChatImage({
    baseUrl: sim.url,
    apiKey: "sk-test",
    model: "gpt-4o-image",
    prompt: `picture #${counter} ${directive}`,
    n: 1,
    size: "1536x1024",
    connectTimeoutMs: 2000,
    firstByteTimeoutMs: 5000,
    idleTimeoutMs: 5000,
  });
  const url = result.imageUrls[0];
  if (url === undefined) throw new Error("no image");
  return url;
}

const limits = { maxBytes: 20 * 1024 * 1024, timeoutMs: 5000 };

describe("downloadImage", () => {
  it("downloads the same bytes the file host serves, with sniffed dimensions", async () => {
    const url = await imageUrl();
    const image = await downloadImage(url, { allowlist, ...limits });
    expect(image).toMatchObject({ contentType: "image/png", width: 1536, height: 1024 });
    const again = Buffer.from(await (await fetch(url)).arrayBuffer());
    expect(again.equals(image.bytes)).toBe(true);
  });

  it("refuses hosts outside the allowlist", async () => {
    const url = await imageUrl();
    const error = await expectUpstreamFailure(
      downloadImage(url, { allowlist: ["filesystem.site", "127.0.0.1:1"], ...limits }),
    );
    expect(error).toMatchObject({ code: "result_unavailable", errorClass: "result_fetch", retryable: false });
    expect(sim.calls.at(-1)?.path).toBe("/v1/chat/completions");
  });

  const cases: Array<[string, boolean, RegExp]> = [
    ["img404", false, /404/],
    ["img403", false, /403/],
    ["img500", true, /500/],
    ["img_html", false, /not an image/],
    ["img_truncated", true, /broke|truncated/],
  ];
  for (const [kind, retryable, message] of cases) {
    it(`${kind} is ${retryable ? "retryable" : "final"}`, async () => {
      const url = await imageUrl(`[[sim script=${kind}]]`);
      const error = await expectUpstreamFailure(downloadImage(url, { allowlist, ...limits }));
      expect(error).toMatchObject({
        code: "result_unavailable",
        errorClass: "result_fetch",
        retryable,
        fallback: true,
      });
      expect(error.message).toMatch(message);
    });
  }

  it("recovers when the host fails only the first fetch", async () => {
    const url = await imageUrl("[[sim script=img500 img_fail_times=1]]");
    await expectUpstreamFailure(downloadImage(url, { allowlist, ...limits }));
    const image = await downloadImage(url, { allowlist, ...limits });
    expect(image.width).toBe(1536);
  });

  it("stops at maxBytes and on timeout", async () => {
    const url = await imageUrl();
    expect(
      (await expectUpstreamFailure(downloadImage(url, { allowlist, maxBytes: 1000, timeoutMs: 5000 }))).message,
    ).toMatch(/limit/);
    const slow = await imageUrl("[[sim script=img_slow img_delay_ms=2000]]");
    const error = await expectUpstreamFailure(
      downloadImage(slow, { allowlist, maxBytes: limits.maxBytes, timeoutMs: 200 }),
    );
    expect(error).toMatchObject({ retryable: true });
    expect(error.message).toMatch(/timed out/);
  });

  it("expired URLs answer 404", async () => {
    const url = await imageUrl("[[sim img_expire_ms=1]]");
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect((await expectUpstreamFailure(downloadImage(url, { allowlist, ...limits }))).httpStatus).toBe(404);
  });
});

describe("isHostAllowed", () => {
  it("matches host, host:port and *.domain entries", () => {
    const list = ["filesystem.site", "*.filesystem.site", "127.0.0.1:4010"];
    expect(isHostAllowed(new URL("https://filesystem.site/cdn/a.png"), list)).toBe(true);
    expect(isHostAllowed(new URL("https://pro.filesystem.site/cdn/a.png"), list)).toBe(true);
    expect(isHostAllowed(new URL("https://evilfilesystem.site/a.png"), list)).toBe(false);
    expect(isHostAllowed(new URL("https://filesystem.site.evil.com/a.png"), list)).toBe(false);
    expect(isHostAllowed(new URL("http://127.0.0.1:4010/a.png"), list)).toBe(true);
    expect(isHostAllowed(new URL("http://127.0.0.1:4011/a.png"), list)).toBe(false);
    expect(isHostAllowed(new URL("https://pro.filesystem.site/a.png"), ["*.filesystem.site:443"])).toBe(true);
    expect(isHostAllowed(new URL("https://filesystem.site/a.png"), ["*.filesystem.site"])).toBe(false);
  });
});
