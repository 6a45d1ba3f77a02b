import { type Stack, startStack } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, type JobJson, uniquePrompt, upstreamCalls } from "./support";

let stack: Stack;
let api: ReturnType<typeof client>;
beforeAll(async () => {
  // The stack caps retry delays at 500 ms by default; a 429's Retry-After of 2 s must be honoured here.
  stack = await startStack({
    label: "cancel",
    simulatorStepMs: 5,
    env: { RETRY_BASE_DELAY_MS: "20", RETRY_MAX_DELAY_MS: "3000" },
  });
  api = client(stack, await stack.newApiKey());
});
afterAll(() => stack?.stop());

describe("cancel", () => {
  it("aborts the in-flight upstream call within 1 s; the job is canceled and stays so", async () => {
    const prompt = uniquePrompt("[[sim step_ms=400]]");
    const created = await api.create({ prompt });
    await api.waitFor(created.id, (j) => j.status === "running" && j.progress.percent > 0);
    const canceledAt = Date.now();
    const res = await api.post(`/v1/jobs/${created.id}/cancel`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; attempts: { status: string }[] };
    expect(body.status).toBe("canceled");
    expect(body.attempts.at(-1)?.status).toBe("canceled");

    const deadline = Date.now() + 3000;
    while (!upstreamCalls(stack, prompt)[0]?.closedByClient && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const call = upstreamCalls(stack, prompt)[0];
    expect(call?.closedByClient).toBe(true);
    expect((call?.closedAt ?? Number.POSITIVE_INFINITY) - canceledAt).toBeLessThan(1000);

    await new Promise((r) => setTimeout(r, 1500));
    const later = await api.get(created.id);
    expect(later.status).toBe("canceled");
    expect(later.result).toBeNull();
    expect(upstreamCalls(stack, prompt)).toHaveLength(1);
  });

  it("cancels a queued job waiting for a retry (the retry never runs), and refuses a terminal one with 409", async () => {
    const prompt = uniquePrompt("[[sim script=http429 retry_after=2]]");
    const created = await api.create({ prompt });
    const waiting = (await api.waitFor(
      created.id,
      (j) => j.attempts.length === 1 && j.status === "queued",
    )) as JobJson & {
      next_attempt_at: string | null;
    };
    const dueAt = Date.parse(waiting.next_attempt_at ?? "");
    const res = await api.post(`/v1/jobs/${created.id}/cancel`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe("canceled");
    expect(Date.now(), "the cancel came before the retry was due").toBeLessThan(dueAt);
    // Proving that something does not happen needs its due time to pass: the retry was due at dueAt.
    while (Date.now() < dueAt + 2_000) await new Promise((r) => setTimeout(r, 100));
    const later = await api.get(created.id);
    expect(later.status).toBe("canceled");
    expect(later.attempts).toHaveLength(1);
    expect(upstreamCalls(stack, prompt)).toHaveLength(1);
    const again = await api.post(`/v1/jobs/${created.id}/cancel`);
    expect(again.status).toBe(409);
    const problem = (await again.json()) as { code: string; detail: string };
    expect(problem.code).toBe("conflict");
    expect(problem.detail).toMatch(/already canceled/);
  });

  it("answers 404 for another tenant's job", async () => {
    const created = await api.create({ prompt: uniquePrompt("[[sim step_ms=200]]") });
    const other = client(stack, await stack.newApiKey("other"));
    expect((await other.post(`/v1/jobs/${created.id}/cancel`)).status).toBe(404);
    expect((await other.post(`/v1/jobs/${created.id}/retry`)).status).toBe(404);
    await api.post(`/v1/jobs/${created.id}/cancel`);
  });
});

describe("retry", () => {
  it("re-runs a failed job with a fresh attempt budget and deadline, keeping the earlier attempts", async () => {
    // Every call fails until the fifth: the first run spends its 2 attempts, the retry exactly 2 more.
    const prompt = uniquePrompt("[[sim script=http500*4]]");
    const created = (await api.create({
      prompt,
      max_attempts: 2,
      fallback_model: null,
      deadline_seconds: 60,
    })) as JobJson & {
      deadline_at: string;
    };
    const failed = await api.waitTerminal(created.id);
    expect(failed.status).toBe("failed");
    expect(failed.attempts.map((a) => a.status)).toEqual(["failed", "failed"]);

    const retriedAt = Date.now();
    const res = await api.post(`/v1/jobs/${created.id}/retry`);
    expect(res.status).toBe(202);
    const queued = (await res.json()) as JobJson & { deadline_at: string };
    expect(queued.status).toBe("queued");
    // deadline_seconds counted again from the retry, not from the job's creation.
    expect(Date.parse(queued.deadline_at)).toBeGreaterThanOrEqual(retriedAt + 60_000);
    expect(Date.parse(queued.deadline_at)).toBeGreaterThan(Date.parse(created.deadline_at));

    const done = await api.waitTerminal(created.id);
    expect(done.status).toBe("failed");
    expect(done.error?.retryable).toBe(true);
    expect(done.attempts.map((a) => [a.number, a.status])).toEqual([
      [1, "failed"],
      [2, "failed"],
      [3, "failed"],
      [4, "failed"],
    ]);
    expect(upstreamCalls(stack, prompt)).toHaveLength(4);
  });

  it("re-runs a canceled job, and refuses a succeeded or running one with 409", { timeout: 90_000 }, async () => {
    const prompt = uniquePrompt("[[sim step_ms=100]]");
    const created = await api.create({ prompt });
    await api.waitFor(created.id, (j) => j.status === "running");
    expect((await api.post(`/v1/jobs/${created.id}/retry`)).status).toBe(409);
    await api.post(`/v1/jobs/${created.id}/cancel`);
    const retried = await api.post(`/v1/jobs/${created.id}/retry`);
    expect(retried.status).toBe(202);
    const done = await api.waitTerminal(created.id, 30_000);
    expect(done.status).toBe("succeeded");
    expect(done.attempts.map((a) => a.status)).toEqual(["canceled", "succeeded"]);
    const again = await api.post(`/v1/jobs/${created.id}/retry`);
    expect(again.status).toBe(409);
  });
});

describe("deadline", () => {
  it("aborts a call that keeps the connection alive past deadline_seconds and fails deadline_exceeded", async () => {
    const prompt = uniquePrompt("[[sim script=stall ping_ms=100]]");
    const created = await api.create({ prompt, deadline_seconds: 10 });
    const job = await api.waitTerminal(created.id, 20_000);
    expect(job.status).toBe("failed");
    expect(job.error).toMatchObject({ code: "deadline_exceeded", retryable: false });
    const call = upstreamCalls(stack, prompt)[0];
    expect(call?.closedByClient).toBe(true);
    expect((call?.closedAt ?? 0) - new Date(created.created_at).getTime()).toBeGreaterThanOrEqual(9_900);
    expect(upstreamCalls(stack, prompt)).toHaveLength(1);
  });
});
