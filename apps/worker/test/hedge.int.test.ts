import { STACK_ADMIN_TOKEN, type Stack, startStack } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestBrowser, useChromium } from "./browser";
import { jobEvents } from "./job-events";
import { client, operatorAttempts, uniquePrompt, upstreamCalls } from "./support";

// Issue 11: the hedged fallback (`hedge_after_seconds`), through real API and worker processes and
// the simulator. The primary's stream stands still (keep-alive pings and dots, no progress); the
// stall watchdog is far off (30 s), so only the hedge can start the fallback within a few seconds.

let stack: Stack;
let api: ReturnType<typeof client>;
let key: string;
let browser: TestBrowser | undefined;

beforeAll(async () => {
  stack = await startStack({
    label: "hedge",
    simulatorStepMs: 5,
    env: { UPSTREAM_PROGRESS_STALL_MS: "30000", UPSTREAM_QUOTA_POLL_SECONDS: "0" },
  });
  key = await stack.newApiKey();
  api = client(stack, key);
});
afterAll(async () => {
  await browser?.close();
  if (process.env.DEBUG_STACK) console.log(stack.api.output(), stack.workers[0]?.output());
  await stack?.stop();
});

describe("hedged fallback", () => {
  it("starts the fallback beside a primary without progress; the first result wins and the other call is aborted", async () => {
    const prompt = uniquePrompt("[[sim script=stall_dots dot_ms=150 ping_ms=100]]");
    const created = await api.create({ prompt, hedge_after_seconds: 1 });
    expect(created).toMatchObject({ hedge_after_seconds: 1 });
    const done = await api.waitTerminal(created.id, 15_000);
    expect(done.status).toBe("succeeded");
    expect(done.result?.model).toBe("gpt-image-1");
    expect(done.result?.images).toHaveLength(1);
    // Both attempts are recorded: the primary lost the race (aborted), the hedge won.
    const [primary, hedge] = done.attempts;
    expect(done.attempts).toHaveLength(2);
    expect(primary).toMatchObject({ number: 1, model: "gpt-4o-image", status: "canceled", hedge: false });
    expect(hedge).toMatchObject({ number: 2, model: "gpt-image-1", status: "succeeded", hedge: true });
    // The hedge started after about a second without progress, while the primary still ran.
    const hedgeStart = Date.parse(hedge?.started_at ?? "");
    expect(hedgeStart - Date.parse(primary?.started_at ?? "")).toBeGreaterThanOrEqual(1000);
    expect(hedgeStart - Date.parse(primary?.started_at ?? "")).toBeLessThan(4000);
    expect(Date.parse(primary?.finished_at ?? "")).toBeGreaterThanOrEqual(Date.parse(hedge?.finished_at ?? "") - 50);
    // The simulator saw the primary's client close its call, and one images call.
    const [chat, images] = upstreamCalls(stack, prompt);
    expect(chat?.path).toBe("/v1/chat/completions");
    await expect.poll(() => chat?.closedByClient, { timeout: 5000 }).toBe(true);
    expect(images?.path).toBe("/v1/images/generations");
    expect(images?.closedByClient).toBe(false);
    // Operators read why the primary ended.
    const attempts = await operatorAttempts(stack, created.id);
    expect(attempts[0]).toMatchObject({ status: "canceled", hedge: false });
    // Both calls count toward usage: the aborted one may be billed (default prices 0.04 + 0.042).
    const usage = (await (
      await fetch(`${stack.apiUrl}/v1/jobs/${created.id}`, { headers: { authorization: `Bearer ${key}` } })
    ).json()) as { result: { cost_usd: number } };
    expect(usage.result.cost_usd).toBeCloseTo(0.082, 6);
    // The hedge's start is an event of its own.
    const started = (await jobEvents(stack, key, created.id)).filter((e) => e.type === "job.started");
    expect(started.map((e) => e.data)).toEqual([
      { attempt: 1, model: "gpt-4o-image" },
      { attempt: 2, model: "gpt-image-1", hedge: true },
    ]);
    // The dashboard's job detail tells the two calls apart.
    browser = await useChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${stack.apiUrl}/dashboard/`);
    await page.getByTestId("token-input").fill(STACK_ADMIN_TOKEN);
    await page.getByTestId("sign-in").click();
    await page.getByTestId(`job-row-${created.id}`).click();
    await expect.poll(() => page.getByTestId("detail-hedge").textContent()).toContain("after 1 s");
    expect(await page.getByTestId("attempt-2-hedge").textContent()).toContain("alongside");
    expect(await page.getByTestId("attempt-1-hedge-lost").textContent()).toContain("won");
  });

  it("never starts the fallback while the primary keeps progressing", async () => {
    // Progress moves at least every ~0.5 s and the stream lasts over 3 s: a 3 s hedge delay has a
    // wide margin against a loaded machine's hiccups, and only the progress can keep it away.
    const prompt = uniquePrompt("[[sim form=percent step_ms=250]]");
    const created = await api.create({ prompt, hedge_after_seconds: 3 });
    const done = await api.waitTerminal(created.id, 15_000);
    expect(done.status).toBe("succeeded");
    expect(done.result?.model).toBe("gpt-4o-image");
    expect(done.attempts).toHaveLength(1);
    expect(done.attempts[0]).toMatchObject({ model: "gpt-4o-image", hedge: false });
    const calls = upstreamCalls(stack, prompt);
    expect(calls.map((c) => c.path)).toEqual(["/v1/chat/completions"]);
    // The primary ran longer than the hedge delay: only its progress kept the hedge away.
    expect(Date.parse(done.finished_at ?? "") - Date.parse(done.attempts[0]?.started_at ?? "")).toBeGreaterThan(3000);
  });

  it("never hedges a job without hedge_after_seconds, however long its primary stands still", async () => {
    const prompt = uniquePrompt("[[sim script=stall_dots dot_ms=150 ping_ms=100 stall_ms=1800]]");
    const created = await api.create({ prompt });
    expect(created.hedge_after_seconds).toBeNull();
    const done = await api.waitTerminal(created.id, 15_000);
    expect(done.status).toBe("succeeded");
    expect(done.result?.model).toBe("gpt-4o-image");
    expect(done.attempts.map((a) => [a.model, a.status, a.hedge])).toEqual([["gpt-4o-image", "succeeded", false]]);
    expect(upstreamCalls(stack, prompt).map((c) => c.path)).toEqual(["/v1/chat/completions"]);
  });

  it("lets the primary win when it resumes first: the hedge's call is aborted", async () => {
    // The primary stands still for 1.8 s, then finishes; the hedge (started at 1 s) would take 5 s.
    const prompt = uniquePrompt("[[sim script=stall_dots,gen_slow dot_ms=150 ping_ms=100 stall_ms=1800]]");
    const created = await api.create({ prompt, hedge_after_seconds: 1 });
    const done = await api.waitTerminal(created.id, 15_000);
    expect(done.status).toBe("succeeded");
    expect(done.result?.model).toBe("gpt-4o-image");
    expect(done.attempts).toHaveLength(2);
    expect(done.attempts[0]).toMatchObject({ number: 1, model: "gpt-4o-image", status: "succeeded", hedge: false });
    expect(done.attempts[1]).toMatchObject({ number: 2, model: "gpt-image-1", status: "canceled", hedge: true });
    const [chat, images] = upstreamCalls(stack, prompt);
    expect(chat?.closedByClient).toBe(false);
    await expect.poll(() => images?.closedByClient, { timeout: 5000 }).toBe(true);
    // The primary's progress after the hedge started is still attempt 1's (the job's fence moved to
    // attempt 2, the progress did not): its events say so.
    const progress = (await jobEvents(stack, key, created.id)).filter((e) => e.type === "job.progress");
    expect(progress.some((e) => (e.data as { percent: number }).percent > 10)).toBe(true);
    expect(new Set(progress.map((e) => (e.data as { attempt: number }).attempt))).toEqual(new Set([1]));
  });

  it("runs on when one call fails alone: the hedge fails, the primary resumes and wins", async () => {
    const prompt = uniquePrompt("[[sim script=stall_dots,gen500 dot_ms=150 ping_ms=100 stall_ms=1800]]");
    const created = await api.create({ prompt, hedge_after_seconds: 1 });
    const done = await api.waitTerminal(created.id, 15_000);
    expect(done.status).toBe("succeeded");
    expect(done.result?.model).toBe("gpt-4o-image");
    expect(done.attempts[0]).toMatchObject({ number: 1, status: "succeeded" });
    expect(done.attempts[1]).toMatchObject({ number: 2, model: "gpt-image-1", status: "failed", hedge: true });
    expect(done.attempts[1]?.error?.code).toBe("upstream_error");
    const failed = (await jobEvents(stack, key, created.id)).filter((e) => e.type === "job.attempt_failed");
    expect(failed.map((e) => e.data)).toMatchObject([{ attempt: 2, next_attempt_at: null, still_running: 1 }]);
  });

  it("aborts both calls when the hedged job is canceled: both attempts canceled", async () => {
    const prompt = uniquePrompt("[[sim script=stall_dots,gen_slow dot_ms=150 ping_ms=100 gen_slow_ms=20000]]");
    const created = await api.create({ prompt, hedge_after_seconds: 1 });
    await api.waitFor(created.id, (j) => j.attempts.length === 2, 10_000);
    expect((await api.post(`/v1/jobs/${created.id}/cancel`)).status).toBe(200);
    const [chat, images] = upstreamCalls(stack, prompt);
    await expect.poll(() => chat?.closedByClient, { timeout: 5000 }).toBe(true);
    await expect.poll(() => images?.closedByClient, { timeout: 5000 }).toBe(true);
    const job = await api.get(created.id);
    expect(job.status).toBe("canceled");
    expect(job.attempts.map((a) => [a.number, a.status, a.hedge])).toEqual([
      [1, "canceled", false],
      [2, "canceled", true],
    ]);
  });

  it("gives both calls back when the worker stops: both attempts interrupted, neither counted", async () => {
    // The primary stands still, the hedge starts at 1 s and would take 20 s: the worker stops while
    // both calls run. The third call (the job's next run, on its fallback) answers at once.
    const prompt = uniquePrompt("[[sim script=stall_dots,gen_slow dot_ms=150 ping_ms=100 gen_slow_ms=20000]]");
    const created = await api.create({ prompt, hedge_after_seconds: 1, max_attempts: 2 });
    await api.waitFor(created.id, (j) => j.attempts.length === 2, 10_000);
    // The hedge's attempt is recorded before its request leaves: wait until the simulator has both
    // calls, so that the worker stops while both run.
    await expect.poll(() => upstreamCalls(stack, prompt).length, { timeout: 10_000 }).toBe(2);
    const holder = stack.workers[0];
    if (holder === undefined) throw new Error("no worker");
    expect(await holder.stop("SIGTERM")).toBe(0);
    stack.workers.splice(stack.workers.indexOf(holder), 1);
    const [chat, images] = upstreamCalls(stack, prompt);
    // The simulator sees each connection close a moment after the worker has exited.
    await expect.poll(() => chat?.closedByClient, { timeout: 5000 }).toBe(true);
    await expect.poll(() => images?.closedByClient, { timeout: 5000 }).toBe(true);
    const returned = await api.get(created.id);
    expect(returned.status).toBe("queued");
    expect(returned.attempts.map((a) => [a.number, a.status, a.hedge])).toEqual([
      [1, "interrupted", false],
      [2, "interrupted", true],
    ]);
    await stack.addWorker();
    // max_attempts 2 and two attempts given back, yet it runs again: neither counted.
    const done = await api.waitTerminal(created.id, 10_000);
    expect(done.status).toBe("succeeded");
    expect(done.attempts.map((a) => a.status)).toEqual(["interrupted", "interrupted", "succeeded"]);
  });

  it("refuses hedge_after_seconds out of range or without a fallback, naming the field", async () => {
    for (const [body, message] of [
      [{ hedge_after_seconds: 0 }, "at least 1"],
      [{ hedge_after_seconds: 601 }, "at most 600"],
      [{ hedge_after_seconds: 1.5 }, "integer"],
      [{ hedge_after_seconds: 5, fallback_model: null }, "fallback_model"],
      [{ hedge_after_seconds: 5, model: "gpt-image-1" }, "fallback_model"],
      [{ hedge_after_seconds: 5, max_attempts: 1 }, "max_attempts of at least 2"],
    ] as const) {
      const res = await fetch(`${stack.apiUrl}/v1/jobs`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ prompt: "p", ...body }),
      });
      expect(res.status, JSON.stringify(body)).toBe(400);
      const text = await res.text();
      expect(text).toContain("hedge_after_seconds");
      expect(text).toContain(message);
    }
  });
});
