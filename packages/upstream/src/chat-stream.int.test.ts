import { type Simulator, startSimulator } from "@darkroom/upstream-simulator";
import { Agent } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChatImageOptions, streamChatImage } from "./chat-stream";
import type { ProgressSnapshot } from "./progress-parser";
import { expectUpstreamFailure } from "./test-support";

let sim: Simulator;
let counter = 0;

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 1, pingMs: 50 });
});
afterAll(async () => {
  await sim.close();
});

function options(prompt: string, extra: Partial<ChatImageOptions> = {}): ChatImageOptions {
  counter += 1;
  return {
    baseUrl: sim.url,
    apiKey: "sk-test",
    model: "gpt-4o-image",
    prompt: `${prompt} #${counter}`,
    n: 1,
    size: "1024x1024",
    connectTimeoutMs: 2000,
    firstByteTimeoutMs: 5000,
    idleTimeoutMs: 5000,
    ...extra,
  };
}

describe("streamChatImage: happy paths", () => {
  it("streams progress and returns two 3:2 images, never the decoy", async () => {
    const snapshots: ProgressSnapshot[] = [];
    let firstByte = 0;
    const result = await streamChatImage(
      options("two robots", {
        n: 2,
        size: "1536x1024",
        onProgress: (s) => snapshots.push(s),
        onFirstByte: () => (firstByte += 1),
      }),
    );
    expect(result.imageUrls).toHaveLength(2);
    for (const url of result.imageUrls) expect(url).toMatch(/\/cdn\/\d{8}\/[0-9a-f]+-1536x1024\.png$/);
    expect(result.text).toContain("/vg-assets/");
    expect(result).toMatchObject({ declaredN: 2, finishReason: "stop", httpStatus: 200 });
    expect(result.usage?.total_tokens).toBeGreaterThan(0);
    expect(result.requestId).toBe(sim.calls.at(-1)?.requestId);
    expect(firstByte).toBe(1);
    const percents = snapshots.map((s) => s.percent).filter((p): p is number => p !== null);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(new Set(percents).size).toBeGreaterThanOrEqual(5);
    expect(snapshots.at(-1)?.stage).toBe("complete");
    const call = sim.calls.at(-1);
    expect(call?.prompt).toMatch(/\n\n\(Generate 2 images, aspect ratio 3:2\.\)$/);
    expect(call?.closedByClient).toBe(false);
  });

  const variants = [
    "[[sim lang=zh]]",
    "[[sim form=asyncdata]]",
    "[[sim form=asyncdata lang=zh]]",
    "[[sim form=percent lang=zh]]",
    "[[sim split=1 crlf=1]]",
    "[[sim split=3 nospace=1 lang=zh]]",
    "[[sim script=wrongctype]]",
    "[[sim script=textplain]]",
    "[[sim script=malformed_json malformed=2]]",
    "[[sim script=stall stall_ms=400 ping_ms=50]]",
    "[[sim form=newer lang=zh]]",
    "[[sim form=newer]]",
  ];
  for (const directive of variants) {
    it(`succeeds with ${directive}`, async () => {
      const result = await streamChatImage(options(`a fox ${directive}`, { size: "1024x1536", idleTimeoutMs: 300 }));
      expect(result.imageUrls).toHaveLength(1);
      expect(result.imageUrls[0]).toMatch(/\/cdn\/\d{8}\/[0-9a-f]+-1024x1536\.png$/);
    });
  }
});

describe("streamChatImage: failures", () => {
  const cases: Array<[string, string, string, boolean, boolean]> = [
    ["http400", "bad_request", "request_bug", false, true],
    ["http401", "upstream_auth", "auth", false, false],
    ["http403quota", "upstream_quota", "quota", false, false],
    ["http403", "upstream_auth", "model_forbidden", false, true],
    ["http404html", "upstream_error", "wrong_path", false, false],
    ["http301", "upstream_error", "wrong_path", false, false],
    ["http413", "bad_request", "payload_too_large", false, false],
    ["http429quota", "upstream_quota", "quota", false, false],
    ["http500invalid", "bad_request", "request_bug", false, false],
    ["http500", "upstream_error", "transient_upstream", true, true],
    ["http502html", "upstream_error", "transient_upstream", true, true],
    ["http503nochannel", "upstream_unavailable", "model_not_found", false, true],
    ["http504", "upstream_error", "transient_upstream", true, true],
    ["http524html", "upstream_error", "transient_upstream", true, true],
    ["json200error", "upstream_error", "transient_upstream", true, true],
    ["reset", "upstream_unavailable", "network", true, true],
    ["midstream_error", "upstream_error", "mid_stream_error", true, true],
    ["event_error", "upstream_error", "mid_stream_error", true, true],
    ["vllm_error", "upstream_error", "mid_stream_error", true, true],
    ["truncate", "stream_truncated", "truncated", false, true],
    ["reset_mid", "stream_truncated", "truncated", false, true],
    ["done_noimage", "no_image", "no_image", false, true],
    ["content_filter", "content_policy", "content_policy", false, false],
    ["policy_text", "content_policy", "content_policy", false, false],
    ["malformed_json", "stream_truncated", "protocol_noise", false, true],
  ];
  for (const [kind, code, errorClass, retryable, fallback] of cases) {
    it(`${kind} -> ${code}/${errorClass}`, async () => {
      const error = await expectUpstreamFailure(streamChatImage(options(`fault ${kind} [[sim script=${kind}]]`)));
      expect({
        code: error.code,
        errorClass: error.errorClass,
        retryable: error.retryable,
        fallback: error.fallback,
      }).toEqual({
        code,
        errorClass,
        retryable,
        fallback,
      });
      if (kind.startsWith("http") && !kind.endsWith("html") && kind !== "http301") {
        expect(error.requestId).toBe(sim.calls.at(-1)?.requestId);
      }
    });
  }

  it("follows a script: 429, 429 (with retry-after), then success", async () => {
    const opts = options("script [[sim script=http429*2,ok retry_after_ms=1250.5]]");
    const first = await expectUpstreamFailure(streamChatImage(opts));
    const second = await expectUpstreamFailure(streamChatImage(opts));
    for (const error of [first, second]) {
      expect(error).toMatchObject({
        code: "upstream_rate_limited",
        retryable: true,
        retryAfterMs: 1251,
        httpStatus: 429,
      });
    }
    const result = await streamChatImage(opts);
    expect(result.imageUrls).toHaveLength(1);
    const calls = sim.calls.filter((c) => c.prompt?.startsWith(opts.prompt));
    expect(calls.map((c) => [c.call, c.kind])).toEqual([
      [1, "http429"],
      [2, "http429"],
      [3, "ok"],
    ]);
  });

  it("a missing key answers 401 with the CometAPI envelope", async () => {
    const error = await expectUpstreamFailure(streamChatImage(options("no key", { apiKey: " " })));
    expect(error).toMatchObject({ code: "upstream_auth", errorClass: "auth", httpStatus: 401 });
    expect(error.detail).toMatch(/\(request id: \w+\)/);
    expect(error.message).not.toMatch(/Invalid token|request id/);
  });

  it("a silent stall past the idle limit is stalled, and the connection is closed", async () => {
    const error = await expectUpstreamFailure(
      streamChatImage(options("stall [[sim script=stall stall_ping=0]]", { idleTimeoutMs: 250 })),
    );
    expect(error).toMatchObject({ code: "upstream_timeout", errorClass: "stalled", retryable: false, fallback: true });
    await expect.poll(() => sim.calls.at(-1)?.closedByClient).toBe(true);
  });

  it("pings and dots without progress past the stall limit are upstream_stalled, and the connection is closed", async () => {
    const started = performance.now();
    const error = await expectUpstreamFailure(
      streamChatImage(
        options("stuck [[sim script=stall_dots dot_ms=40 ping_ms=40]]", { idleTimeoutMs: 5000, progressStallMs: 400 }),
      ),
    );
    expect(error).toMatchObject({ code: "upstream_stalled", errorClass: "progress_stalled", retryable: true });
    expect(error.fallback).toBe(true);
    expect(error.stall?.stage).toBe("generating");
    expect(error.stall?.percent).toBeGreaterThan(0);
    expect(error.stall?.stoodMs).toBeGreaterThanOrEqual(400);
    expect(performance.now() - started).toBeLessThan(3000);
    await expect.poll(() => sim.calls.at(-1)?.closedByClient).toBe(true);
  });

  it("a stream whose progress keeps moving is not abandoned by the stall watchdog", async () => {
    // Each step moves the text; with 1 ms steps the whole stream is far below 300 ms of standing still.
    const result = await streamChatImage(options("moving [[sim step_ms=20]]", { progressStallMs: 300 }));
    expect(result.imageUrls).toHaveLength(1);
  });

  it("headers that never come hit the first-byte timeout", async () => {
    const error = await expectUpstreamFailure(
      streamChatImage(options("hang [[sim script=noheaders]]", { firstByteTimeoutMs: 250 })),
    );
    expect(error).toMatchObject({ code: "upstream_timeout", errorClass: "network", retryable: true });
    await expect.poll(() => sim.calls.at(-1)?.closedByClient).toBe(true);
  });

  it("aborting the signal cancels the call and closes the connection", async () => {
    const controller = new AbortController();
    const promise = streamChatImage(
      options("cancel [[sim step_ms=30]]", {
        signal: controller.signal,
        onProgress: (s) => {
          if (s.percent !== null) controller.abort(new Error("job canceled"));
        },
      }),
    );
    const error = await expectUpstreamFailure(promise);
    expect(error).toMatchObject({ errorClass: "canceled", retryable: false });
    expect(error.cause).toBeInstanceOf(Error);
    await expect.poll(() => sim.calls.at(-1)?.closedByClient).toBe(true);
  });

  it("a call its caller's callback ends closes its connection, also one of a shared keep-alive pool", async () => {
    // The pool would keep a socket whose answer is still streaming; the call's end must close it.
    const pool = new Agent({ keepAliveTimeout: 60_000 });
    try {
      const promise = streamChatImage(
        options("callback throws [[sim step_ms=200]]", {
          dispatcher: pool,
          onFirstByte: () => {
            throw new Error("the caller's callback failed");
          },
        }),
      );
      await expect(promise).rejects.toThrow("the caller's callback failed");
      await expect.poll(() => sim.calls.at(-1)?.closedByClient).toBe(true);
    } finally {
      await pool.close();
    }
  });

  it("a refused connection is a network error", async () => {
    const closed = await startSimulator();
    const url = closed.url;
    await closed.close();
    const error = await expectUpstreamFailure(streamChatImage({ ...options("refused"), baseUrl: url }));
    expect(error).toMatchObject({
      code: "upstream_unavailable",
      errorClass: "network",
      retryable: true,
      fallback: true,
    });
  });
});
