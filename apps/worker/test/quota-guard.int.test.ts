import { STACK_ADMIN_TOKEN, type Stack, startStack, until } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestBrowser, useChromium, watchPageErrors } from "./browser";
import { client, uniquePrompt, upstreamCalls } from "./support";

// The upstream quota guard (issue 11), end to end: API and worker processes, the simulator as the
// upstream (its `GET /api/usage/token` and settable quota), Postgres and Redis.

interface QuotaView {
  status: string;
  available: number | null;
  paused: boolean;
  reason: string | null;
}

let stack: Stack;
let api: ReturnType<typeof client>;
let browser: TestBrowser | undefined;
beforeAll(async () => {
  stack = await startStack({
    label: "quota",
    simulatorStepMs: 5,
    env: { UPSTREAM_QUOTA_POLL_SECONDS: "1", UPSTREAM_QUOTA_WARN: "1000", READY_STALL_SECONDS: "5" },
  });
  api = client(stack, await stack.newApiKey());
});
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

async function quota(): Promise<QuotaView | null> {
  const res = await fetch(`${stack.apiUrl}/admin/api/overview`, {
    headers: { authorization: `Bearer ${STACK_ADMIN_TOKEN}` },
  });
  return ((await res.json()) as { upstream_quota: QuotaView | null }).upstream_quota;
}

async function metric(name: string): Promise<number | null> {
  const text = await (await fetch(`${stack.apiUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? null : Number(line.split(" ")[1]);
}

describe("upstream quota guard", () => {
  it("an exhausted quota pauses generation with no job failed, and it resumes when the quota returns", {
    timeout: 40_000,
  }, async () => {
    await until("the first check", async () => ((await quota())?.status === "ok" ? true : undefined));
    stack.simulator.setQuota({ unlimited_quota: false, total_available: 0 });
    const paused = await until("the pause", async () => {
      const q = await quota();
      return q?.paused === true ? q : undefined;
    });
    expect(paused.status).toBe("exhausted");
    expect(paused.reason).toMatch(/no quota left \(poll\)/);

    const prompts = [0, 1, 2].map(() => uniquePrompt("[[sim steps=2]]"));
    const jobs = await Promise.all(prompts.map((prompt) => api.create({ prompt })));
    // Jobs wait: none is started, none reaches the upstream, none fails; and waiting past
    // READY_STALL_SECONDS does not make the API unready, since the pause explains it.
    await new Promise((r) => setTimeout(r, 5_500));
    for (const job of jobs) expect((await api.get(job.id)).status).toBe("queued");
    for (const prompt of prompts) expect(upstreamCalls(stack, prompt)).toHaveLength(0);
    const ready = await fetch(`${stack.apiUrl}/readyz`);
    expect(ready.status).toBe(200);
    const checks = ((await ready.json()) as { checks: Record<string, string> }).checks;
    expect(checks.upstream_quota).toMatch(/^exhausted: generation paused since /);
    expect(checks.workers).toBe("paused: the upstream quota is used up");
    expect(await metric("darkroom_upstream_quota_paused")).toBe(1);
    expect(await metric("darkroom_upstream_quota_available")).toBe(0);
    // The dashboard says it, above the overview.
    browser = await useChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const pageErrors = watchPageErrors(page);
    await page.goto(`${stack.apiUrl}/dashboard/`);
    await page.getByTestId("token-input").fill(STACK_ADMIN_TOKEN);
    await page.getByTestId("sign-in").click();
    const banner = page.getByTestId("quota-banner");
    await banner.waitFor({ timeout: 10_000 });
    expect(await banner.textContent()).toMatch(/Upstream quota used up: generation is paused since .*no quota left/);
    expect(pageErrors, pageErrors.join("\n")).toEqual([]);

    stack.simulator.setQuota({ total_available: 5_000_000 });
    const done = await Promise.all(jobs.map((job) => api.waitTerminal(job.id, 20_000)));
    expect(done.map((job) => job.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
    expect(done.every((job) => job.attempts.length === 1)).toBe(true);
    const after = await quota();
    expect(after).toMatchObject({ paused: false, status: "ok", available: 5_000_000 });
    expect(await metric("darkroom_upstream_quota_paused")).toBe(0);
    await expect.poll(() => stack.workers[0]?.output(), { timeout: 5_000 }).toMatch(/generation resumed/);
  });

  it("a quota answer pauses generation at once; the job waits, its attempt not counted, and succeeds", {
    timeout: 40_000,
  }, async () => {
    stack.simulator.setQuota({ unlimited_quota: true });
    await until("the quota is back to unlimited", async () => ((await quota())?.available === null ? true : undefined));
    // The first call answers 403 insufficient_user_quota although the quota endpoint says unlimited.
    const prompt = uniquePrompt("[[sim script=http403quota]]");
    const created = await api.create({ prompt, max_attempts: 1 });
    const job = await api.waitTerminal(created.id, 20_000);
    expect(job.status).toBe("succeeded");
    expect(job.attempts.map((a) => [a.status, a.error?.code ?? null])).toEqual([
      ["interrupted", "upstream_quota"],
      ["succeeded", null],
    ]);
    expect(upstreamCalls(stack, prompt)).toHaveLength(2);
    const output = stack.workers[0]?.output() ?? "";
    expect(output).toMatch(/the upstream answered: .*generation paused/s);
  });
});
