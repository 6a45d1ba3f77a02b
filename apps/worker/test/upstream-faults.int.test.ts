import { createRedisConnection, QUEUES } from "@darkroom/queue";
import { type Stack, startStack, until } from "@darkroom/testing";
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callKinds, client, type JobJson, uniquePrompt, upstreamCalls } from "./support";

// One test per row of upstream-protocol.md section E, through the simulator over real HTTP, with the
// API and the worker as separate processes. Each asserts the upstream calls made (number and order),
// the attempts listed, and the final status and code.

let stack: Stack;
let api: ReturnType<typeof client>;
beforeAll(async () => {
  stack = await startStack({
    label: "faults",
    simulatorStepMs: 5,
    env: {
      UPSTREAM_IDLE_TIMEOUT_MS: "700",
      UPSTREAM_FIRST_BYTE_TIMEOUT_MS: "1500",
      RETRY_BASE_DELAY_MS: "20",
      RETRY_MAX_DELAY_MS: "3000",
      // Row 4 as the table has it: a quota answer fails the job. With the guard on, it pauses
      // generation instead (quota-guard.int.test.ts).
      UPSTREAM_QUOTA_POLL_SECONDS: "0",
    },
  });
  api = client(stack, await stack.newApiKey());
});
afterAll(async () => {
  if (process.env.DEBUG_STACK) console.log(stack.workers[0]?.output());
  await stack?.stop();
});

async function run(directives: string, body: Record<string, unknown> = {}) {
  const prompt = uniquePrompt(directives);
  const created = await api.create({ prompt, ...body });
  const job = await api.waitTerminal(created.id);
  return { job, prompt, calls: callKinds(stack, prompt) };
}

const attemptSummary = (job: JobJson) =>
  job.attempts.map((a) => `${a.model}:${a.status}${a.error ? `:${a.error.code}` : ""}`);

function expectFallbackSuccess(job: JobJson) {
  expect(job.status).toBe("succeeded");
  expect(job.fallback_used).toBe(true);
  expect(job.result?.model).toBe("gpt-image-1");
  expect(job.result?.images).toHaveLength(1);
  expect(job.error).toBeNull();
}

describe("section E, row by row", () => {
  it("1: a request bug (500 invalid_request) fails bad_request after one call", async () => {
    const { job, calls } = await run("[[sim script=http500invalid*5]]");
    expect(calls).toEqual(["chat"]);
    expect(job.status).toBe("failed");
    expect(job.error?.code).toBe("bad_request");
    expect(attemptSummary(job)).toEqual(["gpt-4o-image:failed:bad_request"]);
  });

  it("1: a 400 that names the model is not retried, but the fallback may pass", async () => {
    const { job, calls } = await run("[[sim script=http400]]");
    expect(calls).toEqual(["chat", "images"]);
    expectFallbackSuccess(job);
    expect(attemptSummary(job)).toEqual(["gpt-4o-image:failed:bad_request", "gpt-image-1:succeeded"]);
  });

  it("2: a content-policy refusal makes exactly one upstream call and fails content_policy", async () => {
    for (const kind of ["content_filter", "policy_text"]) {
      const { job, calls } = await run(`[[sim script=${kind}*5]]`);
      expect(calls).toEqual(["chat"]);
      expect(job.status).toBe("failed");
      expect(job.error).toMatchObject({ code: "content_policy", retryable: false });
      expect(attemptSummary(job)).toEqual(["gpt-4o-image:failed:content_policy"]);
    }
    const { job, calls } = await run("[[sim script=gen400policy*5]]", { model: "gpt-image-1" });
    expect(calls).toEqual(["images"]);
    expect(job.error?.code).toBe("content_policy");
  });

  it("3: 401 fails upstream_auth after one call", async () => {
    const { job, calls } = await run("[[sim script=http401*5]]");
    expect(calls).toEqual(["chat"]);
    expect(job.error?.code).toBe("upstream_auth");
    expect(job.attempts[0]?.error?.http_status).toBe(401);
  });

  it("4: quota (403 insufficient_user_quota, 429 insufficient_quota) fails upstream_quota after one call (quota guard off)", async () => {
    for (const kind of ["http403quota", "http429quota"]) {
      const { job, calls } = await run(`[[sim script=${kind}*5]]`);
      expect(calls).toEqual(["chat"]);
      expect(job.status).toBe("failed");
      expect(job.error?.code).toBe("upstream_quota");
    }
  });

  it("5: another 403 (model not allowed) goes to the fallback, which succeeds", async () => {
    const { job, calls } = await run("[[sim script=http403]]");
    expect(calls).toEqual(["chat", "images"]);
    expectFallbackSuccess(job);
    expect(attemptSummary(job)).toEqual(["gpt-4o-image:failed:upstream_auth", "gpt-image-1:succeeded"]);
  });

  it("6: a wrong path (HTML 404, 301) fails after one call, without fallback", async () => {
    for (const kind of ["http404html", "http301"]) {
      const { job, calls } = await run(`[[sim script=${kind}*5]]`);
      expect(calls).toEqual(["chat"]);
      expect(job.status).toBe("failed");
      expect(job.error?.code).toBe("upstream_error");
      expect(job.attempts[0]?.error?.class).toBe("wrong_path");
    }
  });

  it("7: 413 fails bad_request after one call", async () => {
    const { job, calls } = await run("[[sim script=http413*5]]");
    expect(calls).toEqual(["chat"]);
    expect(job.error?.code).toBe("bad_request");
  });

  it("8: 429s are retried (twice) without using up attempts, then the fallback takes over", async () => {
    const { job, calls } = await run("[[sim script=http429*3 retry_after_ms=50]]", { max_attempts: 2 });
    expect(calls).toEqual(["chat", "chat", "chat", "images"]);
    expectFallbackSuccess(job);
    expect(attemptSummary(job)).toEqual([
      "gpt-4o-image:failed:upstream_rate_limited",
      "gpt-4o-image:failed:upstream_rate_limited",
      "gpt-4o-image:failed:upstream_rate_limited",
      "gpt-image-1:succeeded",
    ]);
    // Four calls listed, one of max_attempts used: the 429s are not counted.
    expect(job.attempts.map((a) => a.counted)).toEqual([false, false, false, true]);
    expect(job.attempts_used).toBe(1);
  });

  it("8: a 429 with Retry-After: 2, twice, then success: calls at least 2 s apart", async () => {
    const { job, prompt } = await run("[[sim script=http429,http429,ok retry_after=2]]");
    expect(job.status).toBe("succeeded");
    expect(job.fallback_used).toBe(false);
    const started = upstreamCalls(stack, prompt).map((c) => c.startedAt);
    expect(started).toHaveLength(3);
    expect((started[1] ?? 0) - (started[0] ?? 0)).toBeGreaterThanOrEqual(2000);
    expect((started[2] ?? 0) - (started[1] ?? 0)).toBeGreaterThanOrEqual(2000);
  });

  it("9: 503 model_not_found falls back at once", async () => {
    const { job, calls } = await run("[[sim script=http503nochannel]]");
    expect(calls).toEqual(["chat", "images"]);
    expectFallbackSuccess(job);
    expect(job.attempts[0]?.error?.code).toBe("upstream_unavailable");
  });

  it("10: transient 5xx (HTML or JSON) are retried twice, then the fallback; all failing ends upstream_error", async () => {
    const recovered = await run("[[sim script=http502html,http500,ok]]");
    expect(recovered.calls).toEqual(["chat", "chat", "chat"]);
    expect(recovered.job.status).toBe("succeeded");
    expect(recovered.job.fallback_used).toBe(false);

    const fallback = await run("[[sim script=http524html*3]]");
    expect(fallback.calls).toEqual(["chat", "chat", "chat", "images"]);
    expectFallbackSuccess(fallback.job);

    const { job, calls } = await run("[[sim script=http504*3,gen500]]");
    expect(calls).toEqual(["chat", "chat", "chat", "images"]);
    expect(job.status).toBe("failed");
    expect(job.error?.code).toBe("upstream_error");
    expect(job.attempts).toHaveLength(4);
  });

  it("11: connection resets before headers are retried, then the fallback", async () => {
    const { job, calls } = await run("[[sim script=reset*3]]");
    expect(calls).toEqual(["chat", "chat", "chat", "images"]);
    expectFallbackSuccess(job);
    expect(job.attempts[0]?.error?.class).toBe("network");
  });

  it("11: no response headers within the first-byte timeout: the call is abandoned after it and retried", async () => {
    const { job, calls, prompt } = await run("[[sim script=noheaders,ok]]");
    expect(calls).toEqual(["chat", "chat"]);
    expect(job.status).toBe("succeeded");
    expect(job.attempts[0]?.error).toMatchObject({ code: "upstream_timeout", class: "network", http_status: null });
    const [silent] = upstreamCalls(stack, prompt);
    expect(silent?.closedByClient).toBe(true);
    // UPSTREAM_FIRST_BYTE_TIMEOUT_MS (1500), not the idle timeout (700) that applies after the
    // headers. The worker's clock starts before the connect, the simulator's once the request is in.
    const heldMs = (silent?.closedAt ?? 0) - (silent?.startedAt ?? 0);
    expect(heldMs).toBeGreaterThan(1100);
    expect(heldMs).toBeLessThan(1500 + 1500);
  });

  it("12: an error in the middle of a 200 stream is retried once, then the fallback", async () => {
    const once = await run("[[sim script=midstream_error,ok]]");
    expect(once.calls).toEqual(["chat", "chat"]);
    expect(once.job.status).toBe("succeeded");
    const twice = await run("[[sim script=event_error,vllm_error]]");
    expect(twice.calls).toEqual(["chat", "chat", "images"]);
    expectFallbackSuccess(twice.job);
  });

  it("13: a stalled stream is abandoned after the idle timeout and the job still succeeds", async () => {
    const { job, calls, prompt } = await run("[[sim script=stall stall_ping=0]]");
    expect(calls).toEqual(["chat", "images"]);
    expectFallbackSuccess(job);
    expect(job.attempts[0]?.error?.code).toBe("upstream_timeout");
    const stalled = upstreamCalls(stack, prompt)[0];
    expect(stalled?.closedByClient).toBe(true);
    expect((stalled?.closedAt ?? 0) - (stalled?.startedAt ?? 0)).toBeGreaterThanOrEqual(700);
  });

  it("13: keep-alive pings count as bytes: a slow stream with pings is not abandoned", async () => {
    const { job, calls } = await run("[[sim script=stall stall_ms=1500 ping_ms=200]]");
    expect(calls).toEqual(["chat"]);
    expect(job.status).toBe("succeeded");
  });

  it("14: a truncated stream (EOF or reset without [DONE]) goes to the fallback", async () => {
    for (const kind of ["truncate", "reset_mid"]) {
      const { job, calls } = await run(`[[sim script=${kind}]]`);
      expect(calls).toEqual(["chat", "images"]);
      expectFallbackSuccess(job);
      expect(job.attempts[0]?.error?.code).toBe("stream_truncated");
    }
  });

  it("15: [DONE] without an image, every time: succeeded through gpt-image-1 with the failed attempt listed", async () => {
    const { job, calls } = await run("[[sim script=done_noimage*9]]");
    expect(calls).toEqual(["chat", "images"]);
    expectFallbackSuccess(job);
    expect(attemptSummary(job)).toEqual(["gpt-4o-image:failed:no_image", "gpt-image-1:succeeded"]);
    expect(job.attempts[0]?.last_progress).toBeGreaterThan(0);
  });

  it("16: a malformed data line is skipped; repeated ones count as a truncated stream", async () => {
    const once = await run("[[sim script=malformed_json malformed=1]]");
    expect(once.calls).toEqual(["chat"]);
    expect(once.job.status).toBe("succeeded");
    const many = await run("[[sim script=malformed_json malformed=4]]");
    expect(many.calls).toEqual(["chat", "images"]);
    expectFallbackSuccess(many.job);
    expect(many.job.attempts[0]?.error?.code).toBe("stream_truncated");
  });

  it("17: an image GET that fails is retried (3 times) before the fallback", async () => {
    const recovered = await run("[[sim script=img500 img_fail_times=2]]");
    expect(recovered.calls).toEqual(["chat"]);
    expect(recovered.job.status).toBe("succeeded");

    const { job, calls, prompt } = await run("[[sim script=img404]]");
    expect(calls).toEqual(["chat", "images"]);
    expectFallbackSuccess(job);
    expect(job.attempts[0]?.error?.code).toBe("result_unavailable");
    // Jobs here run one at a time, so the image GETs between the chat call and the fallback call
    // are this job's: the first try and three retries.
    const [chat, images] = upstreamCalls(stack, prompt);
    const imageGets = stack.simulator.calls.filter(
      (c) =>
        c.path.startsWith("/cdn/") && c.startedAt >= (chat?.startedAt ?? 0) && c.startedAt <= (images?.startedAt ?? 0),
    );
    expect(imageGets).toHaveLength(4);
  });

  it("18: a bad fallback result is retried once, then the job fails no_image", async () => {
    const { job, calls } = await run("[[sim script=http503nochannel,gen_empty,gen_badb64]]");
    expect(calls).toEqual(["chat", "images", "images"]);
    expect(job.status).toBe("failed");
    expect(job.error?.code).toBe("no_image");
    expect(attemptSummary(job)).toEqual([
      "gpt-4o-image:failed:upstream_unavailable",
      "gpt-image-1:failed:no_image",
      "gpt-image-1:failed:no_image",
    ]);
  });
});

describe("options that shape the policy", () => {
  it("fallback_model: null never calls gpt-image-1", async () => {
    const { job, calls } = await run("[[sim script=done_noimage*5]]", { fallback_model: null });
    expect(calls).toEqual(["chat"]);
    expect(job.status).toBe("failed");
    expect(job.error?.code).toBe("no_image");
  });

  it("max_attempts counts every upstream call, fallback included", async () => {
    const { job, calls } = await run("[[sim script=http500*2]]", { max_attempts: 3 });
    expect(calls).toEqual(["chat", "chat", "images"]);
    expect(job.status).toBe("succeeded");
    const one = await run("[[sim script=http500*9]]", { max_attempts: 1 });
    expect(one.calls).toEqual(["chat"]);
    expect(one.job.status).toBe("failed");
  });

  it("records the upstream request id, HTTP status and time to first byte of each attempt", async () => {
    const { job } = await run("[[sim script=http500,ok]]");
    expect(job.attempts[0]).toMatchObject({
      status: "failed",
      error: { http_status: 500, class: "transient_upstream" },
    });
    expect(job.attempts[0]?.upstream_request_id).toBeTruthy();
    expect(job.attempts[1]?.time_to_first_byte_ms).toBeGreaterThanOrEqual(0);
    expect(job.attempts[1]?.upstream_request_id).toBeTruthy();
  });

  it("records the time to first byte of every attempt whose response began: failed ones and the fallback's", async () => {
    const { job } = await run("[[sim script=http503*3]]", { max_attempts: 4 });
    expect(attemptSummary(job)).toEqual([
      "gpt-4o-image:failed:upstream_error",
      "gpt-4o-image:failed:upstream_error",
      "gpt-4o-image:failed:upstream_error",
      "gpt-image-1:succeeded",
    ]);
    for (const a of job.attempts) expect(a.time_to_first_byte_ms).toEqual(expect.any(Number));
    const midStream = await run("[[sim script=midstream_error*2]]", { fallback_model: null, max_attempts: 2 });
    expect(midStream.job.attempts.map((a) => [a.status, typeof a.time_to_first_byte_ms])).toEqual([
      ["failed", "number"],
      ["failed", "number"],
    ]);
    // No response at all: nothing to time.
    const reset = await run("[[sim script=reset*5]]", { fallback_model: null, max_attempts: 1 });
    expect(reset.job.attempts.map((a) => [a.status, a.time_to_first_byte_ms])).toEqual([["failed", null]]);
  });
});

describe("a 429 pauses the whole upstream queue", () => {
  it("another job, on either of two workers, makes no call until the Retry-After passed; neither uses an attempt", async () => {
    if (stack.workers.length < 2) await stack.addWorker();
    const limitedPrompt = uniquePrompt("[[sim script=http429,ok retry_after=3]]");
    const limited = await api.create({ prompt: limitedPrompt, max_attempts: 1 });
    // The 429 has been handled: only a failed attempt sets a retry time (GET reads the job and its
    // attempts in two queries, so "queued with one attempt" alone can be the moment of the claim).
    await api.waitFor(
      limited.id,
      (j) => j.status === "queued" && (j as { next_attempt_at?: string | null }).next_attempt_at != null,
    );
    // …and the worker has paused the queue (it does so right after writing the attempt).
    const queue = new Queue(QUEUES.generation.name, {
      connection: createRedisConnection(stack.redis.url, "worker"),
      prefix: stack.redis.prefix,
    });
    try {
      // A manual pause sets the limiter counter to MAX_SAFE_INTEGER; the worker's own (never binding)
      // limiter leaves a small count there, which this does not mistake for a pause.
      await until("the queue is paused", async () =>
        (await queue.getRateLimitTtl(Number.MAX_SAFE_INTEGER)) > 0 ? true : undefined,
      );
    } finally {
      await queue.close();
    }
    const otherPrompt = uniquePrompt("[[sim step_ms=5]]");
    const other = await api.create({ prompt: otherPrompt, max_attempts: 1 });

    const [limitedDone, otherDone] = await Promise.all([api.waitTerminal(limited.id), api.waitTerminal(other.id)]);
    const [throttled, retried] = upstreamCalls(stack, limitedPrompt);
    const [otherCall] = upstreamCalls(stack, otherPrompt);
    // The pause lasts until 3 s after the decision, which came after the 429 call started.
    const pauseEnd = (throttled?.startedAt ?? Number.POSITIVE_INFINITY) + 3000;
    // The other job really arrived during the pause (with a second to spare), so it had to wait.
    expect(new Date(other.created_at).getTime()).toBeLessThan(pauseEnd - 1000);
    expect(otherCall?.startedAt).toBeGreaterThanOrEqual(pauseEnd);
    expect(retried?.startedAt).toBeGreaterThanOrEqual(pauseEnd);
    expect(upstreamCalls(stack, otherPrompt)).toHaveLength(1);

    // max_attempts 1 each: a 429 is not an attempt, and waiting out another job's 429 is none either.
    expect(limitedDone.status).toBe("succeeded");
    expect(attemptSummary(limitedDone)).toEqual([
      "gpt-4o-image:failed:upstream_rate_limited",
      "gpt-4o-image:succeeded",
    ]);
    expect(otherDone.status, JSON.stringify(otherDone.attempts)).toBe("succeeded");
    expect(attemptSummary(otherDone)).toEqual(["gpt-4o-image:succeeded"]);
  });
});
