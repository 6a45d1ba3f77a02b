import { STACK_ADMIN_TOKEN, type Stack, startStack, until } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestBrowser, useChromium } from "./browser";
import { client, type JobJson, uniquePrompt, upstreamCalls } from "./support";

// The per-model circuit breaker (issue 11), end to end: API and worker processes, the simulator as
// the upstream (a model failing at a set rate: POST /_sim/model-faults), Postgres and Redis.

const OPEN_SECONDS = 3;

interface CircuitJson {
  model: string;
  state: string;
  calls: number;
  failures: number;
  failure_rate: number;
  reopens_at: string | null;
}

let stack: Stack;
let api: ReturnType<typeof client>;
let metricsUrl: string;
let browser: TestBrowser | undefined;
beforeAll(async () => {
  stack = await startStack({
    label: "circuit",
    simulatorStepMs: 5,
    env: {
      CIRCUIT_MIN_CALLS: "4",
      CIRCUIT_WINDOW_SECONDS: "30",
      CIRCUIT_OPEN_SECONDS: String(OPEN_SECONDS),
      METRICS_PORT: "0",
      UPSTREAM_QUOTA_POLL_SECONDS: "0",
    },
  });
  const worker = stack.workers[0];
  if (worker === undefined) throw new Error("no worker");
  const [, url] = await worker.waitFor(/"url":"(http:\/\/127\.0\.0\.1:\d+\/metrics)".*"msg":"metrics listening"/);
  metricsUrl = url ?? "";
  api = client(stack, await stack.newApiKey());
});
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

async function circuit(model = "gpt-4o-image"): Promise<CircuitJson | undefined> {
  const res = await fetch(`${stack.apiUrl}/admin/api/overview`, {
    headers: { authorization: `Bearer ${STACK_ADMIN_TOKEN}` },
  });
  const circuits = ((await res.json()) as { circuits: CircuitJson[] | null }).circuits;
  return circuits?.find((c) => c.model === model);
}

async function stateGauge(model = "gpt-4o-image"): Promise<number | null> {
  const text = await (await fetch(metricsUrl)).text();
  const line = text.split("\n").find((l) => l.startsWith(`darkroom_circuit_state{model="${model}"} `));
  return line === undefined ? null : Number(line.split(" ")[1]);
}

async function setModelFault(body: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${stack.simulator.url}/_sim/model-faults`, { method: "POST", body: JSON.stringify(body) });
  expect(res.status).toBe(200);
}

/** Jobs without a fallback: each makes exactly one call to gpt-4o-image. */
async function runWithoutFallback(count: number): Promise<JobJson[]> {
  const jobs = await Promise.all(
    Array.from({ length: count }, () =>
      api.create({ prompt: uniquePrompt(""), fallback_model: null, max_attempts: 1 }),
    ),
  );
  return Promise.all(jobs.map((job) => api.waitTerminal(job.id, 15_000)));
}

const primaryCalls = (prompt: string) => upstreamCalls(stack, prompt).filter((c) => c.model === "gpt-4o-image");

describe("per-model circuit breaker", () => {
  it("opens when the primary fails past the threshold, sends new jobs to gpt-image-1, and closes after a good probe", {
    timeout: 30_000,
  }, async () => {
    // gpt-4o-image fails three calls of every four (the first passes): 3 of 4 > 0.5 at 4 calls.
    await setModelFault({ model: "gpt-4o-image", fail_rate: 0.75, kind: "http500" });
    const failing = await runWithoutFallback(4);
    expect(failing.map((j) => j.status).sort()).toEqual(["failed", "failed", "failed", "succeeded"]);
    await setModelFault({ model: "gpt-4o-image", fail_rate: 0 });

    // The circuit is open: a new job's first attempt goes straight to the fallback.
    const skippedPrompt = uniquePrompt("");
    const skipped = await api.waitTerminal((await api.create({ prompt: skippedPrompt })).id);
    expect(skipped.status).toBe("succeeded");
    expect(skipped.attempts.map((a) => [a.model, a.status, a.skipped])).toEqual([
      ["gpt-image-1", "succeeded", "circuit_open"],
    ]);
    expect(skipped.fallback_used).toBe(true);
    expect(primaryCalls(skippedPrompt)).toHaveLength(0);
    expect(upstreamCalls(stack, skippedPrompt).map((c) => c.model)).toEqual(["gpt-image-1"]);

    const open = await circuit();
    expect(open).toMatchObject({ state: "open", calls: 4, failures: 3, failure_rate: 0.75 });
    expect(Date.parse(open?.reopens_at ?? "")).toBeGreaterThan(Date.now());
    expect(await stateGauge()).toBe(1);
    expect(await stateGauge("gpt-image-1")).toBe(0);
    await expect
      .poll(() => stack.workers[0]?.output(), { timeout: 5_000 })
      .toMatch(/"model":"gpt-4o-image","calls":4,"failures":3.*circuit opened/);
    await expect
      .poll(() => stack.workers[0]?.output(), { timeout: 5_000 })
      .toMatch(
        new RegExp(
          `"job_id":"${skipped.id}".*"skipped":"circuit_open".*attempt started on the fallback: gpt-4o-image's circuit is open`,
        ),
      );

    // The dashboard shows the circuit while it is not closed.
    browser = await useChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${stack.apiUrl}/dashboard/`);
    await page.getByTestId("token-input").fill(STACK_ADMIN_TOKEN);
    await page.getByTestId("sign-in").click();
    const row = page.getByTestId("circuit-gpt-4o-image");
    await row.waitFor({ timeout: 10_000 });
    expect(["open", "half_open"]).toContain(await row.getAttribute("data-state"));
    expect(await row.textContent()).toMatch(/3 of 4 calls failed \(75%\)/);
    expect(await page.getByTestId("circuit-gpt-image-1").getAttribute("data-state")).toBe("closed");

    // After the open period, one probe call to the primary decides: it succeeds, the circuit closes.
    await until("half-open", async () => ((await circuit())?.state === "half_open" ? true : undefined), 10_000);
    expect(await stateGauge()).toBe(2);
    const probePrompt = uniquePrompt("");
    const probe = await api.waitTerminal((await api.create({ prompt: probePrompt })).id);
    expect(probe.attempts.map((a) => [a.model, a.status, a.skipped])).toEqual([["gpt-4o-image", "succeeded", null]]);
    expect(primaryCalls(probePrompt)).toHaveLength(1);
    const closed = await until("closed", async () => {
      const c = await circuit();
      return c?.state === "closed" ? c : undefined;
    });
    expect(closed).toMatchObject({ calls: 0, failures: 0, reopens_at: null });
    expect(await stateGauge()).toBe(0);
    await expect
      .poll(() => stack.workers[0]?.output(), { timeout: 5_000 })
      .toMatch(/"model":"gpt-4o-image".*circuit closed: the probe call succeeded/);

    const next = await api.waitTerminal((await api.create({ prompt: uniquePrompt("") })).id);
    expect(next.attempts.map((a) => [a.model, a.skipped])).toEqual([["gpt-4o-image", null]]);
    expect(next.fallback_used).toBe(false);
  });

  it("content policy and bad requests do not count against the model", { timeout: 20_000 }, async () => {
    const before = await circuit();
    await setModelFault({ model: "gpt-4o-image", fail_rate: 1, kind: "http400" });
    const badRequests = await runWithoutFallback(3);
    await setModelFault({ model: "gpt-4o-image", fail_rate: 1, kind: "content_filter" });
    const refused = await runWithoutFallback(3);
    await setModelFault({ model: "gpt-4o-image", fail_rate: 0 });
    expect(badRequests.map((j) => j.error?.code)).toEqual(["bad_request", "bad_request", "bad_request"]);
    expect(refused.map((j) => j.error?.code)).toEqual(["content_policy", "content_policy", "content_policy"]);

    const after = await until("six calls recorded", async () => {
      const c = await circuit();
      return c !== undefined && c.calls >= (before?.calls ?? 0) + 6 ? c : undefined;
    });
    expect(after).toMatchObject({ state: "closed", failures: 0, failure_rate: 0 });
    const next = await api.waitTerminal((await api.create({ prompt: uniquePrompt("") })).id);
    expect(next.attempts.map((a) => [a.model, a.skipped])).toEqual([["gpt-4o-image", null]]);
  });

  // Last: it leaves gpt-image-1's circuit open.
  it("starts no hedge onto a fallback whose circuit is not closed: the primary runs on alone", {
    timeout: 20_000,
  }, async () => {
    await setModelFault({ model: "gpt-image-1", fail_rate: 1, kind: "gen500" });
    const failing = await Promise.all(
      Array.from({ length: 4 }, () => api.create({ prompt: uniquePrompt(""), model: "gpt-image-1", max_attempts: 1 })),
    );
    await Promise.all(failing.map((job) => api.waitTerminal(job.id, 15_000)));
    await setModelFault({ model: "gpt-image-1", fail_rate: 0 });
    expect((await circuit("gpt-image-1"))?.state).toBe("open");

    // The primary stands still for 1.8 s (past hedge_after_seconds), then finishes.
    const prompt = uniquePrompt("[[sim script=stall_dots dot_ms=150 ping_ms=100 stall_ms=1800]]");
    const done = await api.waitTerminal((await api.create({ prompt, hedge_after_seconds: 1 })).id, 15_000);
    expect(done.status).toBe("succeeded");
    expect(done.attempts.map((a) => [a.model, a.status, a.hedge])).toEqual([["gpt-4o-image", "succeeded", false]]);
    expect(upstreamCalls(stack, prompt).map((c) => c.model)).toEqual(["gpt-4o-image"]);
    await expect
      .poll(() => stack.workers[0]?.output(), { timeout: 5_000 })
      .toMatch(new RegExp(`"job_id":"${done.id}".*gpt-image-1's circuit is not closed: no hedge now`));
  });
});
