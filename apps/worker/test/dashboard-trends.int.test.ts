import { STACK_ADMIN_TOKEN, type Stack, startStack } from "@darkroom/testing";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sidewaysOverflow, type TestBrowser, useChromium, watchPageErrors } from "./browser";
import { client, uniquePrompt } from "./support";

/** The overview's trend charts: drawn from real jobs, told in words, switchable, and fit a phone. */

let stack: Stack;
let browser: TestBrowser;
let page: Page;
let problems: string[] = [];

beforeAll(async () => {
  stack = await startStack({ label: "dashtrends" });
  const api = client(stack, await stack.newApiKey("acme"));
  const jobs = await Promise.all([
    api.create({ prompt: uniquePrompt("a lighthouse") }),
    api.create({ prompt: uniquePrompt("a harbour") }),
    api.create({ prompt: uniquePrompt("[[sim script=http401]]") }),
  ]);
  for (const job of jobs) await api.waitTerminal(job.id);
  browser = await useChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  problems = watchPageErrors(page);
}, 90_000);
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe("dashboard trends", () => {
  it("charts the last hour's jobs, says it in words, and switches to the last day", { timeout: 60_000 }, async () => {
    await page.goto(`${stack.apiUrl}/dashboard/`);
    await page.getByTestId("token-input").fill(STACK_ADMIN_TOKEN);
    await page.getByTestId("sign-in").click();
    const jobs = page.getByTestId("trend-jobs");
    await expect
      .poll(() => jobs.locator("figcaption").textContent(), { timeout: 15_000 })
      .toMatch(/In the last hour: 3 created, 2 succeeded, 1 failed/);
    expect(await jobs.locator("canvas").count()).toBe(1);
    expect(await page.getByTestId("trend-errors").locator("figcaption").textContent()).toMatch(
      /\w+: 1 in the last hour/,
    );
    await page.getByLabel("Last 24 h").check();
    await expect
      .poll(() => page.getByTestId("trends").locator("[data-window]").getAttribute("data-window"))
      .toBe("24h");
    await expect.poll(() => jobs.locator("figcaption").textContent()).toMatch(/In the last 24 hours: 3 created/);
    expect(await jobs.locator("h3").textContent()).toMatch(/per 5 minutes/);
  });

  it("fits a 390 px wide phone without sideways scrolling", { timeout: 30_000 }, async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await expect
      .poll(async () => (await page.getByTestId("trend-jobs").boundingBox())?.width ?? 999)
      .toBeLessThanOrEqual(390);
    expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
    expect(problems, problems.join("\n")).toEqual([]);
  });
});
