import { type Simulator, startSimulator } from "@darkroom/testing";
import { downloadImage, streamChatImage, UpstreamError } from "@darkroom/upstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createImageDispatcher } from "./image-dispatcher";

/**
 * Result-image downloads as the worker makes them (downloadImage through createImageDispatcher): the
 * same address guard as webhooks, https on 443 (or a port the allowlist names) unless
 * ALLOW_PRIVATE_IMAGE_URLS. The simulator serves plain http on 127.0.0.1, the positive control.
 */

let sim: Simulator;
let imageUrl: string;
beforeAll(async () => {
  sim = await startSimulator({ port: 0, stepMs: 1 });
  const result = await streamChatImage({
    baseUrl: sim.url,
    apiKey: "sk-test",
    model: "gpt-4o-image",
    prompt: "guarded download",
    n: 1,
    size: "1024x1024",
    connectTimeoutMs: 2000,
    firstByteTimeoutMs: 5000,
    idleTimeoutMs: 5000,
  });
  imageUrl = result.imageUrls[0] ?? "";
});
afterAll(() => sim.close());

const images = (allowPrivate: boolean) => ({ allowPrivate, downloadTimeoutMs: 5000 });
// Any name resolves to a private address, as a hostile or misconfigured DNS answer would.
const privateDns = async () => [{ address: "10.0.0.5", family: 4 }];

async function refusal(url: string, allowlist: string[], lookup = privateDns): Promise<UpstreamError> {
  const error = await downloadImage(url, {
    allowlist,
    allowPrivate: false,
    maxBytes: 1 << 20,
    timeoutMs: 5000,
    dispatcher: createImageDispatcher(images(false), lookup),
  }).catch((e: unknown) => e);
  if (!(error instanceof UpstreamError)) throw new Error(`expected a refusal, got ${String(error)}`);
  expect(error).toMatchObject({ code: "result_unavailable", errorClass: "result_fetch", retryable: false });
  return error;
}

describe("result-image downloads pass the webhook address guard", () => {
  it("downloads over plain http from 127.0.0.1 only with ALLOW_PRIVATE_IMAGE_URLS", async () => {
    const allowlist = [`127.0.0.1:${sim.port}`];
    const image = await downloadImage(imageUrl, {
      allowlist,
      allowPrivate: true,
      maxBytes: 1 << 20,
      timeoutMs: 5000,
      dispatcher: createImageDispatcher(images(true)),
    });
    expect(image.contentType).toBe("image/png");
    const fetches = () => sim.calls.filter((c) => c.path.startsWith("/cdn/")).length;
    const before = fetches();
    expect(before).toBeGreaterThan(0);
    expect((await refusal(imageUrl, allowlist)).message).toMatch(
      /refused: http: is not allowed \(https only, unless ALLOW_PRIVATE_IMAGE_URLS=true\)/,
    );
    expect(fetches()).toBe(before);
  });

  it("refuses a port the allowlist entry does not name, and credentials in the URL", async () => {
    expect((await refusal("https://images.example.com:8443/a.png", ["images.example.com"])).message).toMatch(
      /refused: port 8443 is not allowed/,
    );
    expect((await refusal("https://u:p@images.example.com/a.png", ["images.example.com"])).message).toMatch(
      /refused: it carries a username or password/,
    );
  });

  it("refuses loopback and private addresses, literal or resolved, with the address named", async () => {
    expect((await refusal("https://127.0.0.1/a.png", ["127.0.0.1"])).message).toMatch(
      /refused: 127\.0\.0\.1 is a loopback address \(127\.0\.0\.1\)/,
    );
    expect((await refusal("https://images.example.com/a.png", ["images.example.com"])).message).toMatch(
      /refused: images\.example\.com resolves to a private address \(10\.0\.0\.5\)/,
    );
    const metadata = async () => [{ address: "169.254.169.254", family: 4 }];
    expect((await refusal("https://cdn.example.com:8443/a.png", ["cdn.example.com:8443"], metadata)).message).toMatch(
      /resolves to a cloud metadata address/,
    );
  });
});
