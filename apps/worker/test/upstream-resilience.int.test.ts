import { type Stack, startStack } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobEvents } from "./job-events";
import {
  client,
  type OperatorAttemptJson,
  operatorAttempts,
  startWebhookReceiver,
  uniquePrompt,
  upstreamCalls,
  type WebhookReceiver,
} from "./support";

// Issue 11: the progress-stall watchdog, busy answers, marker drift and the upstream's words kept
// from tenants, through real API and worker processes and the simulator. Short settings keep each
// case to a few seconds: the stall limit and the busy delay are 1.5 s, an ordinary retry waits at
// most 50 ms (RETRY_BASE_DELAY_MS), so a gap of over a second can only be the busy backoff.
const STALL_MS = 1500;
const BUSY_MS = 1500;

let stack: Stack;
let api: ReturnType<typeof client>;
let key: string;
let hooks: WebhookReceiver;
let metricsUrl: string;

beforeAll(async () => {
  stack = await startStack({
    label: "resilience",
    simulatorStepMs: 5,
    env: {
      UPSTREAM_PROGRESS_STALL_MS: String(STALL_MS),
      UPSTREAM_BUSY_RETRY_DELAY_MS: String(BUSY_MS),
      METRICS_PORT: "0",
      ALLOW_PRIVATE_WEBHOOK_URLS: "true",
      // A quota answer must fail its job here (its words are what is checked), not pause
      // generation for the rest of the file: the quota guard is off (quota-guard.int.test.ts).
      UPSTREAM_QUOTA_POLL_SECONDS: "0",
    },
  });
  const worker = stack.workers[0];
  if (worker === undefined) throw new Error("no worker");
  const [, url] = await worker.waitFor(/"url":"(http:\/\/127\.0\.0\.1:\d+\/metrics)".*"msg":"metrics listening"/);
  metricsUrl = url ?? "";
  key = await stack.newApiKey();
  api = client(stack, key);
  hooks = await startWebhookReceiver();
});
afterAll(async () => {
  if (process.env.DEBUG_STACK) console.log(stack.api.output(), stack.workers[0]?.output());
  await hooks?.close();
  await stack?.stop();
});

async function unrecognisedCount(model: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const line = text
    .split("\n")
    .find((l) => l.startsWith(`darkroom_upstream_unrecognised_streams_total{model="${model}"}`));
  return line === undefined ? 0 : Number(line.split(" ").at(-1));
}

describe("progress-stall watchdog", () => {
  it("abandons a stream that pings and adds dots without progress, and the fallback succeeds", async () => {
    const prompt = uniquePrompt("[[sim script=stall_dots dot_ms=150 ping_ms=100]]");
    const created = await api.create({ prompt, max_attempts: 2 });
    const done = await api.waitTerminal(created.id, 20_000);
    expect(done.status).toBe("succeeded");
    expect(done.result?.model).toBe("gpt-image-1");
    expect(done.fallback_used).toBe(true);
    const [stalled] = done.attempts as unknown as OperatorAttemptJson[];
    expect(stalled?.error?.code).toBe("upstream_stalled");
    expect(stalled?.last_stage).toBe("generating");
    expect(stalled?.last_progress).toBeGreaterThan(0);
    expect(stalled?.progress_stood_ms).toBeGreaterThanOrEqual(STALL_MS);
    // Abandoned at the stall limit, not at the 120 s idle limit that pings and dots keep re-arming.
    expect(stalled?.progress_stood_ms).toBeLessThan(STALL_MS + 2000);
    const [chat, images] = upstreamCalls(stack, prompt);
    expect(chat?.path).toBe("/v1/chat/completions");
    expect(chat?.closedByClient).toBe(true);
    expect(images?.path).toBe("/v1/images/generations");
  });
});

describe("busy answers", () => {
  it("are upstream_busy and retried on the same model after the longer busy backoff", async () => {
    const prompt = uniquePrompt("[[sim script=busy]]");
    const created = await api.create({ prompt, fallback_model: null });
    const done = await api.waitTerminal(created.id, 20_000);
    expect(done.status).toBe("succeeded");
    const [busy, second] = done.attempts as unknown as OperatorAttemptJson[];
    expect(busy?.error?.code).toBe("upstream_busy");
    expect(busy?.error?.message).not.toContain("Lots of people");
    const gap = Date.parse(second?.started_at ?? "") - Date.parse(busy?.finished_at ?? "");
    // busyDelayMs: the busy delay minus at most a quarter of jitter; an ordinary retry waits < 50 ms.
    expect(gap).toBeGreaterThanOrEqual(BUSY_MS * 0.75);
    const [failedCall, retryCall] = upstreamCalls(stack, prompt);
    expect((retryCall?.startedAt ?? 0) - (failedCall?.startedAt ?? 0)).toBeGreaterThanOrEqual(BUSY_MS * 0.75);
    // Operators still read what the upstream said.
    expect((await operatorAttempts(stack, created.id))[0]?.upstream_detail).toContain(
      "Lots of people are creating images",
    );
  });
});

describe("marker drift", () => {
  it("a stream with only the newer markers (ID line, 🎨 生成中, no numbers) shows progress and succeeds", async () => {
    const before = await unrecognisedCount("gpt-4o-image");
    const created = await api.create({
      // 🎨 生成中 and its dots are 5-7 steps: at 120 ms a step they span at least two of the worker's
      // 250 ms progress ticks (at 40 ms, 200-280 ms: a tick could miss them, and did under load).
      prompt: uniquePrompt("[[sim form=newer lang=zh step_ms=120]]"),
      fallback_model: null,
    });
    const done = await api.waitTerminal(created.id);
    expect(done.status).toBe("succeeded");
    expect(done.attempts).toHaveLength(1);
    const stages = (await jobEvents(stack, key, created.id))
      .filter((e) => e.type === "job.progress")
      .map((e) => e.data.stage);
    // The ID line (queuing) and 🎨 生成中 may fall in one progress tick; generating spans two.
    expect(stages).toContain("generating");
    expect(await unrecognisedCount("gpt-4o-image")).toBe(before);
  });

  it("a stream with no recognised progress is counted in /metrics and its first 2 KiB kept for operators", async () => {
    const before = await unrecognisedCount("gpt-4o-image");
    const created = await api.create({
      prompt: uniquePrompt("[[sim script=unknown_markers]]"),
      fallback_model: null,
      max_attempts: 1,
    });
    const done = await api.waitTerminal(created.id);
    expect(done.status).toBe("failed");
    expect(done.error?.code).toBe("no_image");
    expect(await unrecognisedCount("gpt-4o-image")).toBe(before + 1);
    const [attempt] = await operatorAttempts(stack, created.id);
    expect(attempt?.stream_head).toContain("Rendering your picture");
    expect(attempt?.stream_head?.startsWith("data: {")).toBe(true);
    expect(attempt?.stream_head?.length).toBeLessThanOrEqual(2048);
    const publicJob = JSON.stringify(await api.get(created.id));
    expect(publicJob).not.toContain("Rendering your picture");
    expect(publicJob).not.toContain("stream_head");
  });
});

describe("upstream words stay inside", () => {
  const cases: Array<[string, string]> = [
    ["http401", "Invalid token"],
    ["http403quota", "user quota is not enough"],
    ["http404html", "<html"],
  ];
  for (const [fault, words] of cases) {
    it(`${fault}: the job, its events and its webhook carry Darkroom's words; the admin view has "${words}"`, async () => {
      const path = `/${fault}`;
      const created = await api.create({
        prompt: uniquePrompt(`[[sim script=${fault}]]`),
        fallback_model: null,
        max_attempts: 1,
        webhook_url: `${hooks.url}${path}`,
      });
      const done = await api.waitTerminal(created.id);
      expect(done.status).toBe("failed");
      expect(done.error?.message).toMatch(/^The upstream /);
      const webhook = await hooks.waitFor(path);
      const seen = [JSON.stringify(done), JSON.stringify(await jobEvents(stack, key, created.id)), webhook.body];
      for (const text of seen) {
        expect(text).not.toContain(words);
        expect(text).not.toMatch(/request id:/i);
      }
      expect((await operatorAttempts(stack, created.id))[0]?.upstream_detail).toContain(words);
    });
  }
});
