import { createHash } from "node:crypto";
import { type Stack, startStack } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Receiver } from "./receiver";
import { client, uniquePrompt, upstreamCalls } from "./support";

// Image URLs live 2 s in API answers; webhook retries run 3 s then 20 s apart (1 s timeout each),
// so URLs in webhook bodies must live 3 + 20 + 3 × 1 = 26 s longer than that. The first retry comes
// after more than one TTL: a body signed anew for it would differ.
const TTL_SECONDS = 2;
const WINDOW_SECONDS = 26;

let stack: Stack;
let receiver: Receiver;
let api: ReturnType<typeof client>;
beforeAll(async () => {
  receiver = new Receiver();
  await receiver.start();
  stack = await startStack({
    label: "image-links",
    simulatorStepMs: 5,
    env: {
      ALLOW_PRIVATE_WEBHOOK_URLS: "true",
      IMAGE_URL_TTL_SECONDS: String(TTL_SECONDS),
      WEBHOOK_RETRY_SCHEDULE: "3s,20s",
      WEBHOOK_TIMEOUT_MS: "1000",
    },
  });
  api = client(stack, await stack.newApiKey("links"));
});
afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
});

/** GET of a signed URL's path and query on the stack's API, without a key. */
const open = (url: string) => {
  const parsed = new URL(url);
  return fetch(`${stack.apiUrl}${parsed.pathname}${parsed.search}`);
};
const expiresOf = (url: string) => Number(new URL(url).searchParams.get("expires")) * 1000;

describe("image links in webhook bodies", () => {
  it("stay valid through the retry window after IMAGE_URL_TTL_SECONDS has passed, in a body identical on every attempt", async () => {
    const hook = receiver.script("/links", (i) => ({ status: i === 0 ? 500 : 204 }));
    const created = await api.create({ prompt: uniquePrompt(""), webhook_url: hook });
    const [first, second] = await receiver.waitFor("/links", 2);
    if (first === undefined || second === undefined) throw new Error("two deliveries expected");
    // The retry sent the very body of the first attempt.
    expect(second.body).toBe(first.body);
    const body = JSON.parse(first.body) as { data: { result: { images: { url: string; sha256: string }[] } } };
    const [image] = body.data.result.images;
    if (image === undefined) throw new Error("no image in the webhook body");
    expect(expiresOf(image.url) - first.at).toBeGreaterThanOrEqual((WINDOW_SECONDS + TTL_SECONDS) * 1000 - 1000);

    // The job as the API shows it now: its URL lives the TTL only.
    const plainUrl = (await api.get(created.id)).result?.images[0]?.url ?? "";
    expect(expiresOf(plainUrl)).toBeLessThanOrEqual(Date.now() + 2 * TTL_SECONDS * 1000);
    await new Promise((r) => setTimeout(r, Math.max(0, expiresOf(plainUrl) - Date.now()) + 1100));
    expect(Date.now() - first.at).toBeGreaterThan(TTL_SECONDS * 1000);
    expect((await open(plainUrl)).status).toBe(403);
    const late = await open(image.url);
    expect(late.status).toBe(200);
    const bytes = Buffer.from(await late.arrayBuffer());
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(image.sha256);
  }, 30_000);
});

describe("result-image downloads", () => {
  it("are refused for a plain-http URL on a loopback address without ALLOW_PRIVATE_IMAGE_URLS, with a clear attempt error", async () => {
    // The stack's worker allows the simulator's http://127.0.0.1 images; this one does not.
    await Promise.all(stack.workers.splice(0).map((w) => w.stop()));
    await stack.addWorker({ ALLOW_PRIVATE_IMAGE_URLS: "false" });
    const prompt = uniquePrompt("");
    const created = await api.create({ prompt, fallback_model: null, max_attempts: 1 });
    const done = await api.waitTerminal(created.id, 15_000);
    expect(done.status).toBe("failed");
    expect(done.error?.code).toBe("result_unavailable");
    const [attempt] = done.attempts;
    expect(attempt?.error).toMatchObject({ code: "result_unavailable", class: "result_fetch", retryable: false });
    expect(done.error?.message).toMatch(
      /^The generated image could not be downloaded: image URL http:\/\/127\.0\.0\.1:\d+ refused: http: is not allowed \(https only, unless ALLOW_PRIVATE_IMAGE_URLS=true\)$/,
    );
    // The chat call was made; the image host was never asked.
    expect(upstreamCalls(stack, prompt)).toHaveLength(1);
    expect(
      stack.simulator.calls.filter((c) => c.path.startsWith("/cdn/") && c.startedAt >= Date.parse(created.created_at)),
    ).toEqual([]);
  }, 30_000);
});
