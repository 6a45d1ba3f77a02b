import { readdir } from "node:fs/promises";
import path from "node:path";
import { createRedisConnection, FairIntake } from "@darkroom/queue";
import { type Stack, startStack, until } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { terminalEvents, waitForWorkerLog } from "./job-events";
import { client, type JobJson, uniquePrompt, upstreamCalls } from "./support";

let stack: Stack;
let key: string;
let api: ReturnType<typeof client>;
let intake: FairIntake;
let redis: ReturnType<typeof createRedisConnection>;
beforeAll(async () => {
  stack = await startStack({
    label: "cancel",
    simulatorStepMs: 5,
    // A hinted retry may wait up to 3 s, long enough to cancel a job while its retry is pending.
    env: { RETRY_BASE_DELAY_MS: "20", RETRY_MAX_DELAY_MS: "3000" },
  });
  key = await stack.newApiKey();
  api = client(stack, key);
  redis = createRedisConnection(stack.redis.url, "worker");
  intake = new FairIntake(redis, stack.redis.prefix);
});
afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
});

/** The worker has finished with a canceled attempt (its fenced writes changed nothing). */
const ABORTED = "attempt ended after the job moved on";

/** Files stored for a job, temporary ones included (a canceled job must have none). */
/** The job's files in the storage folder (temp files too): its images are named `<job id>-…`. */
async function storedFiles(jobId: string): Promise<string[]> {
  try {
    const all = await readdir(stack.env.STORAGE_DIR ?? "", { recursive: true });
    return all.filter((file) => path.basename(file).startsWith(`${jobId}-`));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

/** A canceled job as GET and the event log show it: canceled once, no result, nothing stored. */
async function expectCanceledOnce(jobId: string) {
  const job = await api.get(jobId);
  expect(job.status).toBe("canceled");
  expect(job.result).toBeNull();
  const terminal = await terminalEvents(stack, key, jobId);
  expect(terminal.map((e) => e.type)).toEqual(["job.canceled"]);
  expect(await storedFiles(jobId)).toEqual([]);
  return job;
}

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

    // The worker's handler has ended (after its fenced writes); the cancel still stands.
    await waitForWorkerLog(stack, created.id, ABORTED);
    const job = await expectCanceledOnce(created.id);
    expect(job.attempts.map((a) => a.status)).toEqual(["canceled"]);
    expect(upstreamCalls(stack, prompt)).toHaveLength(1);
    // The stream had begun: the canceled attempt records when (written as the worker lets it go).
    const after = await api.waitFor(created.id, (j) => j.attempts[0]?.time_to_first_byte_ms !== null);
    expect(after.attempts[0]?.time_to_first_byte_ms).toBeGreaterThanOrEqual(0);
  });

  it("cancels a job waiting for a retry: its delayed retry never runs; a terminal job is refused with 409", async () => {
    const prompt = uniquePrompt("[[sim script=http503 retry_after=2]]");
    const created = await api.create({ prompt });
    // GET reads the job row and its attempts in two queries, so "queued with one attempt" alone can
    // be the moment of the claim; a retry time is only set by the failed attempt.
    const waiting = (await api.waitFor(
      created.id,
      (j) => j.status === "queued" && (j as { next_attempt_at?: string | null }).next_attempt_at != null,
    )) as JobJson & { next_attempt_at: string | null };
    expect(waiting.attempts.map((a) => a.status)).toEqual(["failed"]);
    const dueAt = Date.parse(waiting.next_attempt_at ?? "");
    // The worker hands the slot to the retry after writing the attempt: cancel it while it waits.
    const place = async () => (await intake.places([created.id]))[0]?.state;
    await until("the retry waits for its time", async () => ((await place()) === "retry_wait" ? true : undefined));
    expect(dueAt - Date.now()).toBeGreaterThan(500);
    const res = await api.post(`/v1/jobs/${created.id}/cancel`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe("canceled");
    // Nothing is scheduled for the job any more, well before the retry was due: the cancel removed it.
    await until("the waiting retry is gone", async () => ((await place()) === "unknown" ? true : undefined));
    expect(Date.now()).toBeLessThan(dueAt);
    // Just past the due time: no second call, no second attempt.
    await new Promise((r) => setTimeout(r, Math.max(0, dueAt + 250 - Date.now())));
    const job = await expectCanceledOnce(created.id);
    expect(job.attempts.map((a) => a.status)).toEqual(["failed"]);
    expect(upstreamCalls(stack, prompt)).toHaveLength(1);

    const again = await api.post(`/v1/jobs/${created.id}/cancel`);
    expect(again.status).toBe(409);
    const problem = (await again.json()) as { code: string; detail: string };
    expect(problem.code).toBe("conflict");
    expect(problem.detail).toMatch(/already canceled/);
  });

  it("cancel during the fallback images/generations call closes it; canceled once, nothing stored", async () => {
    const prompt = uniquePrompt("[[sim script=http503nochannel gen_ms=5000]]");
    const created = await api.create({ prompt });
    const images = await until("the fallback call is in flight", async () =>
      upstreamCalls(stack, prompt).find((c) => c.path === "/v1/images/generations"),
    );
    const res = await api.post(`/v1/jobs/${created.id}/cancel`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as JobJson;
    expect(body.status).toBe("canceled");
    expect(body.attempts.map((a) => `${a.model}:${a.status}`)).toEqual(["gpt-4o-image:failed", "gpt-image-1:canceled"]);
    await until("the simulator sees the close", async () => (images.closedByClient ? true : undefined), 3000);
    await waitForWorkerLog(stack, created.id, ABORTED);
    const job = await expectCanceledOnce(created.id);
    expect(job.attempts.map((a) => a.status)).toEqual(["failed", "canceled"]);
    expect(upstreamCalls(stack, prompt)).toHaveLength(2);
  });

  it("cancel while storing (the image download in flight) closes the download; canceled once, nothing stored", async () => {
    const prompt = uniquePrompt("[[sim script=img_slow img_delay_ms=5000]]");
    const created = await api.create({ prompt });
    await api.waitFor(created.id, (j) => j.progress.stage === "storing");
    const [chat] = upstreamCalls(stack, prompt);
    const download = await until("the image download is in flight", async () =>
      stack.simulator.calls.find(
        (c) => c.path.startsWith("/cdn/") && c.startedAt >= (chat?.startedAt ?? 0) && c.closedAt === undefined,
      ),
    );
    const res = await api.post(`/v1/jobs/${created.id}/cancel`);
    expect(res.status).toBe(200);
    await until("the simulator sees the close", async () => (download.closedByClient ? true : undefined), 3000);
    await waitForWorkerLog(stack, created.id, ABORTED);
    const job = await expectCanceledOnce(created.id);
    expect(job.attempts.map((a) => a.status)).toEqual(["canceled"]);
    expect(upstreamCalls(stack, prompt)).toHaveLength(1);
  });

  it("cancel racing completion: each job ends once, succeeded xor canceled, and GET and the events agree", async () => {
    // The download takes 800 ms; the cancels land from the moment storing is seen (up to a progress
    // tick, 250 ms, after it starts) to well after the job finished, so some win, some lose, and some
    // meet the completion head on. The margins hold on a loaded machine: with a 300 ms download and
    // cancels 50 ms apart, a busy CI run saw every job finish before its cancel.
    const outcomes = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const prompt = uniquePrompt("[[sim script=img_slow img_delay_ms=800]]");
        const created = await api.create({ prompt });
        await api.waitFor(created.id, (j) => j.progress.stage === "storing" || j.status === "succeeded", 20_000);
        await new Promise((r) => setTimeout(r, i * 200));
        const res = await api.post(`/v1/jobs/${created.id}/cancel`);
        return { id: created.id, cancelStatus: res.status, prompt };
      }),
    );
    const seen = { canceled: 0, succeeded: 0 };
    for (const { id, cancelStatus, prompt } of outcomes) {
      const job = await api.waitTerminal(id);
      expect(["canceled", "succeeded"]).toContain(job.status);
      seen[job.status as keyof typeof seen]++;
      const terminal = await terminalEvents(stack, key, id);
      expect(terminal.map((e) => e.type)).toEqual([`job.${job.status}`]);
      expect((terminal[0] as unknown as { job?: { status: string } }).job?.status).toBe(job.status);
      // The cancel answer agrees with the outcome: 200 when it won, 409 when the job had finished.
      expect(cancelStatus).toBe(job.status === "canceled" ? 200 : 409);
      if (job.status === "canceled") {
        // Whichever way the worker lost the job (aborted, or completed after the cancel), it is done.
        await waitForWorkerLog(stack, id, [ABORTED, "attempt finished after losing the job"]);
        const canceled = await expectCanceledOnce(id);
        expect(canceled.attempts.map((a) => a.status)).toEqual(["canceled"]);
      } else {
        expect(job.result?.images).toHaveLength(1);
        expect((await storedFiles(id)).length).toBe(1);
      }
      expect(upstreamCalls(stack, prompt)).toHaveLength(1);
    }
    expect(seen.canceled).toBeGreaterThan(0);
    expect(seen.succeeded).toBeGreaterThan(0);
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
