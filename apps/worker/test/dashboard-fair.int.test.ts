import { tmpdir } from "node:os";
import path from "node:path";
import { STACK_ADMIN_TOKEN, type Stack, startStack, testRunId } from "@darkroom/testing";
import type { Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sidewaysOverflow, type TestBrowser, useChromium, watchPageErrors } from "./browser";
import { client, type JobJson, uniquePrompt } from "./support";

// The dashboard's side of fair scheduling and usage (issue 9): a tenant's usage panel, the
// overview's admission state, priority badges and a queued job's place. One stack for the file.

const screenshot = (name: string) => path.join(tmpdir(), `darkroom-fair-${name}-${testRunId()}.png`);
/** The stack's worker slots: what the overview's capacity must show. */
const WORKER_CONCURRENCY = 2;
/** Long enough to hold the one slot of a tenant capped at 1 while the page is looked at. */
const BLOCKER = "[[sim ttfb_ms=40000]]";
const DEAD_REDIS = "redis://127.0.0.1:1";
const READ_TIMEOUT_MS = 3_000;
/**
 * Opening a page and signing in: not a read, so not bound by READ_TIMEOUT_MS (on a loaded machine
 * a page load took over 3 s and failed the sign-in in a full run).
 */
const NAVIGATION_TIMEOUT_MS = 30_000;

type RanJob = JobJson & { result: (JobJson["result"] & { usage: { total_tokens?: number }; cost_usd: number }) | null };

let stack: Stack;
let browser: TestBrowser;
let page: Page;
let pageErrors: string[] = [];
/** Jobs still queued or running at the end: canceled, so the worker stops at once. */
const leftOver: { api: ReturnType<typeof client>; id: string }[] = [];

beforeAll(async () => {
  stack = await startStack({
    label: "dashboard-fair",
    simulatorStepMs: 5,
    env: { WORKER_CONCURRENCY: String(WORKER_CONCURRENCY), MODEL_PRICES: "gpt-4o-image=0.04,gpt-image-1=0.042" },
  });
  browser = await useChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // A read of something the page does not show fails soon (and the poll around it tries again),
  // instead of waiting out Playwright's 30 s.
  page.setDefaultTimeout(READ_TIMEOUT_MS);
  page.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
  // The tab keeps the token: each test opens its view directly.
  await signIn(stack.apiUrl);
  pageErrors = watchPageErrors(page);
}, 60_000);
afterAll(async () => {
  await Promise.all(leftOver.map(({ api, id }) => api.post(`/v1/jobs/${id}/cancel`).catch(() => undefined)));
  await browser?.close();
  await stack?.stop();
});

/** A new tenant with settings of its own; its id and a client with its key. */
async function newTenant(name: string, settings: Record<string, unknown> = {}) {
  const res = await fetch(`${stack.apiUrl}/admin/api/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${STACK_ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name, ...settings }),
  });
  const created = (await res.json()) as { tenant_id: string; api_key: string };
  return { id: created.tenant_id, api: client(stack, created.api_key) };
}

const poll = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 10_000 });
const dataValue = (testId: string, scope: Page | Locator = page) =>
  scope.getByTestId(testId).getAttribute("data-value");

async function signIn(base: string, target: Page = page): Promise<void> {
  const timeout = NAVIGATION_TIMEOUT_MS;
  await target.goto(`${base}/dashboard/`, { timeout });
  await target.getByTestId("token-input").fill(STACK_ADMIN_TOKEN, { timeout });
  await target.getByTestId("sign-in").click({ timeout });
  await target.getByTestId("card-succeeded").waitFor({ timeout });
}

async function noSidewaysScrollAt390(name: string): Promise<void> {
  const { width, height } = page.viewportSize() ?? { width: 1280, height: 900 };
  await page.setViewportSize({ width: 390, height: 844 });
  expect(await sidewaysOverflow(page)).toBe(0);
  await page.screenshot({ path: screenshot(`${name}-390`), fullPage: true });
  await page.setViewportSize({ width, height });
}

describe("dashboard: usage, admission, priority and queue position", () => {
  it("shows a tenant's usage this month equal to what ran, and a limit saved in the settings at once", {
    timeout: 60_000,
  }, async () => {
    const usageCo = await newTenant("Usage Co");
    const created = await Promise.all([
      usageCo.api.create({ prompt: uniquePrompt("one") }),
      usageCo.api.create({ prompt: uniquePrompt("two"), n: 2 }),
      usageCo.api.create({ prompt: uniquePrompt("[[sim script=content_filter]]") }),
    ]);
    const ran = (await Promise.all(created.map((j) => usageCo.api.waitTerminal(j.id)))) as RanJob[];
    const succeeded = ran.filter((j) => j.status === "succeeded");
    expect(succeeded).toHaveLength(2);
    expect(ran.filter((j) => j.status === "failed")).toHaveLength(1);
    const images = succeeded.reduce((sum, j) => sum + (j.result?.images.length ?? 0), 0);
    const tokens = succeeded.reduce((sum, j) => sum + (j.result?.usage.total_tokens ?? 0), 0);
    const cost = succeeded.reduce((sum, j) => sum + (j.result?.cost_usd ?? 0), 0);
    expect(images).toBe(3);
    expect(tokens).toBeGreaterThan(0);
    expect(cost).toBeCloseTo(3 * 0.04, 6);

    await page.goto(`${stack.apiUrl}/dashboard/tenants/${usageCo.id}`);
    const panel = page.getByTestId("usage-panel");
    await poll(() => dataValue("usage-jobs_succeeded", panel)).toBe("2");
    expect(await dataValue("usage-jobs_failed", panel)).toBe("1");
    expect(await dataValue("usage-images", panel)).toBe(String(images));
    expect(await dataValue("usage-tokens", panel)).toBe(String(tokens));
    expect(Number(await dataValue("usage-cost_usd", panel))).toBeCloseTo(cost, 6);
    expect(await panel.getByTestId("usage-cost_usd").textContent()).toBe("$0.12");
    // Every job finished today (UTC): one day row with all of it.
    const today = new Date().toISOString().slice(0, 10);
    const dayRow = panel.getByTestId(`usage-day-${today}`);
    expect((await dayRow.locator("td").allTextContents()).map((t) => t.trim())).toEqual([
      "2",
      "1",
      "3",
      tokens.toLocaleString("en-US"),
      "$0.12",
    ]);
    // No quota nor budget yet.
    for (const name of ["images_per_day", "monthly_budget_usd"]) {
      expect(await panel.getByTestId(`limit-${name}`).getAttribute("data-limit")).toBe("none");
      expect(await panel.getByTestId(`limit-${name}`).textContent()).toContain("none");
    }

    // Saving limits in the settings shows them against what is used, without a reload.
    await page.getByTestId("setting-images_per_day").fill("10");
    await page.getByTestId("setting-monthly_budget_usd").fill("1");
    await page.getByTestId("settings-save").click();
    const quota = panel.getByTestId("limit-images_per_day");
    await poll(() => quota.getAttribute("data-limit")).toBe("10");
    expect(await quota.getAttribute("data-used")).toBe("3");
    expect(await quota.getAttribute("data-reserved")).toBe("0");
    expect(await quota.textContent()).toContain("3 used · 0 reserved · limit 10");
    expect(await quota.textContent()).toContain("7 left");
    const budget = panel.getByTestId("limit-monthly_budget_usd");
    expect(await budget.getAttribute("data-limit")).toBe("1");
    expect(Number(await budget.getAttribute("data-used"))).toBeCloseTo(cost, 6);
    expect(await budget.textContent()).toContain("$0.12 used · $0.00 reserved · limit $1.00");
    const resets = Date.parse((await quota.locator("time").getAttribute("datetime")) ?? "");
    const tomorrow = new Date(`${today}T00:00:00Z`).getTime() + 86_400_000;
    expect(resets).toBe(tomorrow);

    expect(await sidewaysOverflow(page)).toBe(0);
    await page.screenshot({ path: screenshot("usage-1280"), fullPage: true });
    await noSidewaysScrollAt390("usage");
    expect(pageErrors, pageErrors.join("\n")).toEqual([]);
  });

  it("shows the workers' capacity and each tenant's running work, a high-priority badge, and a queued job's place", {
    timeout: 60_000,
  }, async () => {
    // One slot for this tenant: its first job holds it, the rest wait in its intake.
    const queueCo = await newTenant("Queue Co", { max_concurrency: 1 });
    // One quick success: the model's history the estimates are made from.
    const quick = await queueCo.api.create({ prompt: uniquePrompt("history") });
    expect((await queueCo.api.waitTerminal(quick.id)).status).toBe("succeeded");
    const blocker = await queueCo.api.create({ prompt: uniquePrompt(BLOCKER) });
    leftOver.push({ api: queueCo.api, id: blocker.id });
    await queueCo.api.waitFor(blocker.id, (j) => j.status === "running");
    const normal = await queueCo.api.create({ prompt: uniquePrompt(BLOCKER) });
    const high = await queueCo.api.create({ prompt: uniquePrompt(BLOCKER), priority: "high" });
    leftOver.push({ api: queueCo.api, id: normal.id }, { api: queueCo.api, id: high.id });

    await page.goto(`${stack.apiUrl}/dashboard/`);
    const admission = page.getByTestId("card-admission");
    await poll(() => dataValue("admission-capacity", admission)).toBe(String(WORKER_CONCURRENCY));
    expect(await dataValue("admission-admitted", admission)).toBe("1");
    expect(await dataValue("admission-queued", admission)).toBe("2");
    expect(await dataValue("admission-retry-wait", admission)).toBe("0");
    const running = page.getByTestId(`running-${queueCo.id}`);
    await poll(() => running.textContent()).toBe("Queue Co1");
    expect(await running.getAttribute("data-value")).toBe("1");
    expect(await running.locator("a").getAttribute("href")).toBe(`/dashboard/tenants/${queueCo.id}`);

    // The high job carries its badge; normal ones stay quiet.
    const highRow = page.getByTestId(`job-row-${high.id}`);
    await poll(() => highRow.getByTestId("priority-badge").getAttribute("data-priority")).toBe("high");
    expect(await highRow.getByTestId("priority-badge").textContent()).toBe("↑ high");
    expect(await page.getByTestId(`job-row-${normal.id}`).getByTestId("priority-badge").count()).toBe(0);
    expect(await page.getByTestId(`job-row-${blocker.id}`).getByTestId("priority-badge").count()).toBe(0);

    // Submitted last, the high job is next of its tenant; the normal one is second.
    await highRow.click();
    const detail = page.getByTestId("job-detail");
    await poll(() => dataValue("detail-queue-position", detail)).toBe("1");
    expect(await detail.getByTestId("detail-priority").textContent()).toBe("high");
    expect(await detail.getByTestId("priority-badge").count()).toBe(1);
    await page.screenshot({ path: screenshot("overview-1280"), fullPage: true });
    await page.getByTestId(`job-row-${normal.id}`).click();
    await poll(() => dataValue("detail-queue-position", detail)).toBe("2");
    expect(await detail.getByTestId("detail-queue-position").textContent()).toBe("2 of its tenant's waiting jobs");
    // From the quick job's duration: an estimate shows once the API's cached median (10 s, read
    // before that job finished) expires and the queued detail reads the job again.
    await expect
      .poll(async () => Number(await dataValue("detail-eta", detail)), { timeout: 25_000 })
      .toBeGreaterThan(0);
    expect(await detail.getByTestId("detail-eta").textContent()).toMatch(/^done in about \d/);
    // The place moves as others start, with no event of this job: the open detail follows it.
    expect((await queueCo.api.post(`/v1/jobs/${blocker.id}/cancel`)).status).toBe(200);
    await queueCo.api.waitFor(high.id, (j) => j.status === "running");
    await poll(() => dataValue("detail-queue-position", detail)).toBe("1");

    // (At 1280 px the jobs table beside an open detail scrolls in its own box, as it always has.)
    await noSidewaysScrollAt390("overview");
    expect(pageErrors, pageErrors.join("\n")).toEqual([]);
  });

  it("says the admission state is unavailable when the API cannot reach Redis", { timeout: 30_000 }, async () => {
    const cutOff = await stack.addApi({ REDIS_URL: DEAD_REDIS });
    const other = await browser.newPage({ viewport: { width: 390, height: 844 } });
    other.setDefaultTimeout(READ_TIMEOUT_MS);
    other.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
    const errors = watchPageErrors(other);
    try {
      await signIn(cutOff.url, other);
      const unavailable = other.getByTestId("admission-unavailable");
      await poll(() => unavailable.textContent()).toContain("Unavailable");
      expect(await other.getByTestId("admission-capacity").count()).toBe(0);
      expect(errors, errors.join("\n")).toEqual([]);
    } finally {
      await other.close();
    }
  });
});
