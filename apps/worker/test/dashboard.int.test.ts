import { tmpdir } from "node:os";
import path from "node:path";
import { STACK_ADMIN_TOKEN, type Stack, startStack, testRunId } from "@darkroom/testing";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestBrowser, useChromium } from "./browser";
import { client, uniquePrompt } from "./support";

// Kept after the run for a person to look at; named by run so that runs sharing a machine never
// overwrite each other's.
const SCREENSHOT = path.join(tmpdir(), `darkroom-dashboard-${testRunId()}.png`);
const SIGN_IN_SCREENSHOT = path.join(tmpdir(), `darkroom-dashboard-sign-in-${testRunId()}.png`);

let stack: Stack;
let browser: TestBrowser;
let page: Page;
let api: ReturnType<typeof client>;

beforeAll(async () => {
  stack = await startStack({ label: "dashboard" });
  api = client(stack, await stack.newApiKey("acme"));
  browser = await useChromium();
  page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
});
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

const cardCount = async (status: string) =>
  Number(await page.getByTestId(`card-${status}`).locator("[data-value]").getAttribute("data-value"));

describe("dashboard", () => {
  it("signs in, follows jobs live, and shows a job's detail with its image", { timeout: 90_000 }, async () => {
    await page.goto(`${stack.apiUrl}/dashboard/`);

    await page.getByTestId("token-input").fill("not-the-admin-token");
    await page.getByTestId("sign-in").click();
    await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/not accepted/);
    await expect.poll(() => page.getByTestId("card-succeeded").count()).toBe(0);
    await page.screenshot({ path: SIGN_IN_SCREENSHOT });

    await page.getByTestId("token-input").fill(STACK_ADMIN_TOKEN);
    await page.getByTestId("sign-in").click();
    await expect
      .poll(() => page.getByTestId("live-indicator").getAttribute("data-state"), { timeout: 10_000 })
      .toBe("live");
    await expect.poll(() => page.getByTestId("card-succeeded").count()).toBe(1);
    const succeededBefore = await cardCount("succeeded");
    // A marker that a reload would wipe: everything below must arrive through the live stream.
    await page.evaluate("window.__sameDocument = true");

    const slow = await api.create({ prompt: uniquePrompt("[[sim step_ms=60]]") });
    // A 401: no retry, no fallback; the upstream's "Invalid token" is for operators (the dashboard).
    const failing = await api.create({ prompt: uniquePrompt("[[sim script=http401]]") });
    // A 429, then success: two calls, one of max_attempts 1 used (the dashboard once showed "2/1").
    const limited = await api.create({
      prompt: uniquePrompt("[[sim script=http429,ok retry_after_ms=50]]"),
      max_attempts: 1,
    });

    const row = page.getByTestId(`job-row-${slow.id}`);
    const percents: number[] = [];
    const deadline = Date.now() + 30_000;
    for (;;) {
      if ((await row.count()) === 1) {
        // Status first: a terminal row never changes again, so the percent read after it is final.
        const status = await row.getAttribute("data-status");
        const percent = Number(await row.getAttribute("data-percent"));
        if (percents.at(-1) !== percent) percents.push(percent);
        if (status === "succeeded") break;
      }
      if (Date.now() > deadline) throw new Error(`row never succeeded; percents seen: ${percents.join(",")}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(percents.at(-1)).toBe(100);
    const between = percents.filter((p) => p > 0 && p < 100);
    expect(new Set(between).size).toBeGreaterThanOrEqual(2);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));

    await expect
      .poll(() => page.getByTestId(`job-row-${failing.id}`).getAttribute("data-status"), { timeout: 20_000 })
      .toBe("failed");
    await expect
      .poll(() => page.getByTestId(`job-row-${limited.id}`).getAttribute("data-status"), { timeout: 20_000 })
      .toBe("succeeded");
    await expect.poll(() => page.getByTestId(`job-attempts-${limited.id}`).textContent()).toBe("1/1");
    expect((await api.get(limited.id)).attempts.map((a) => [a.status, a.counted])).toEqual([
      ["failed", false],
      ["succeeded", true],
    ]);
    await expect.poll(() => cardCount("succeeded"), { timeout: 10_000 }).toBeGreaterThan(succeededBefore);
    expect(await page.evaluate("window.__sameDocument === true")).toBe(true);

    await row.click();
    const detail = page.getByTestId("job-detail");
    const image = detail.getByTestId("detail-image-0");
    await expect
      .poll(() => image.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth), {
        timeout: 10_000,
      })
      .toBeGreaterThan(0);
    await expect.poll(() => detail.getByTestId("attempt-1").textContent()).toMatch(/gpt-4o-image/);
    expect(await detail.textContent()).toContain("job.succeeded");

    await page.getByTestId(`job-row-${failing.id}`).click();
    await expect
      .poll(() => detail.getByTestId("attempt-1-upstream-detail").textContent(), { timeout: 10_000 })
      .toMatch(/Invalid token \(request id: \w+\)/);

    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });
});
