import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
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

// The simulator serves plain http on 127.0.0.1: allowed only with allowPrivate (ALLOW_PRIVATE_IMAGE_URLS).
const limits = { maxBytes: 20 * 1024 * 1024, timeoutMs: 5000, allowPrivate: true };

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
    expect((await expectUpstreamFailure(downloadImage(url, { ...limits, allowlist, maxBytes: 1000 }))).message).toMatch(
      /limit/,
    );
    const slow = await imageUrl("[[sim script=img_slow img_delay_ms=2000]]");
    const error = await expectUpstreamFailure(downloadImage(slow, { ...limits, allowlist, timeoutMs: 200 }));
    expect(error).toMatchObject({ retryable: true });
    expect(error.message).toMatch(/timed out/);
  });

  it("expired URLs answer 404", async () => {
    const url = await imageUrl("[[sim img_expire_ms=1]]");
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect((await expectUpstreamFailure(downloadImage(url, { allowlist, ...limits }))).httpStatus).toBe(404);
  });
});

/** A server on 127.0.0.1 that answers `/hop?to=<url>` with a 302 to that URL and counts every request. */
async function startLocalServer(): Promise<{ server: Server; port: number; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? "/");
    const to = new URL(req.url ?? "/", "http://x").searchParams.get("to");
    if (to !== null) {
      res.writeHead(302, { location: to });
      res.end();
      return;
    }
    res.writeHead(200, { "content-type": "image/png" });
    res.end(Buffer.alloc(64));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port, hits };
}

describe("downloadImage and redirects", () => {
  let redirector: Awaited<ReturnType<typeof startLocalServer>>;
  // Not in the allowlist: a download that reaches it has followed a redirect it should have refused.
  let forbidden: Awaited<ReturnType<typeof startLocalServer>>;
  let redirectAllowlist: string[];
  beforeAll(async () => {
    redirector = await startLocalServer();
    forbidden = await startLocalServer();
    redirectAllowlist = [`127.0.0.1:${sim.port}`, `127.0.0.1:${redirector.port}`];
  });
  afterAll(async () => {
    await Promise.all([redirector, forbidden].map((s) => new Promise((r) => s?.server.close(r))));
  });
  const hop = (to: string) => `http://127.0.0.1:${redirector.port}/hop?to=${encodeURIComponent(to)}`;

  for (const [name, target] of [
    ["a port of an allowed address that is not allowed", () => `http://127.0.0.1:${forbidden.port}/x.png`],
    ["a host name that is not allowed (localhost for 127.0.0.1)", () => `http://localhost:${forbidden.port}/x.png`],
  ] as const) {
    it(`refuses a redirect from an allowed host to ${name}, without connecting to it`, async () => {
      const before = redirector.hits.length;
      const error = await expectUpstreamFailure(
        downloadImage(hop(target()), { allowlist: redirectAllowlist, ...limits }),
      );
      expect(error).toMatchObject({ code: "result_unavailable", errorClass: "result_fetch", retryable: false });
      expect(error.message).toMatch(/not in the allowlist/);
      expect(redirector.hits.length).toBe(before + 1);
      expect(forbidden.hits).toEqual([]);
    });
  }

  it("follows a redirect to an allowed host and returns that host's bytes", async () => {
    const url = await imageUrl();
    const image = await downloadImage(hop(url), { allowlist: redirectAllowlist, ...limits });
    const direct = Buffer.from(await (await fetch(url)).arrayBuffer());
    expect(image).toMatchObject({ contentType: "image/png", width: 1536, height: 1024 });
    expect(image.bytes.equals(direct)).toBe(true);
  });

  it("gives up after 3 redirects", async () => {
    const before = redirector.hits.length;
    const loop = hop(hop(hop(hop(hop("http://127.0.0.1:1/never")))));
    const error = await expectUpstreamFailure(downloadImage(loop, { allowlist: redirectAllowlist, ...limits }));
    expect(error).toMatchObject({ retryable: false, httpStatus: 302 });
    expect(error.message).toMatch(/too many redirects/);
    expect(redirector.hits.length - before).toBe(4);
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
