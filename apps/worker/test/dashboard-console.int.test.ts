import { STACK_ADMIN_TOKEN, type Stack, startStack, testPool } from "@darkroom/testing";
import type pg from "pg";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sidewaysOverflow, type TestBrowser, useChromium, watchPageErrors } from "./browser";
import { client, uniquePrompt } from "./support";

/**
 * The operator's console in Debian chromium against the whole system: the live table under
 * thousands of events, and finding one job among many by a word of its prompt.
 */

let stack: Stack;
let browser: TestBrowser;
let page: Page;
let sql: pg.Pool;
let api: ReturnType<typeof client>;
let pageErrors: string[] = [];
const requests: string[] = [];

beforeAll(async () => {
  // No worker: jobs stay queued, so only what this test writes changes them.
  stack = await startStack({ label: "console", workers: 0 });
  sql = testPool(stack.db.url, 4);
  api = client(stack, await stack.newApiKey("console"));
  browser = await useChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  pageErrors = watchPageErrors(page);
  page.on("request", (request) => requests.push(new URL(request.url()).pathname));
}, 60_000);

async function signIn(path = "") {
  await page.goto(`${stack.apiUrl}/dashboard/${path}`);
  if ((await page.getByTestId("token-input").count()) > 0) {
    await page.getByTestId("token-input").fill(STACK_ADMIN_TOKEN);
    await page.getByTestId("sign-in").click();
  }
  await expect
    .poll(() => page.getByTestId("live-indicator").getAttribute("data-state"), { timeout: 10_000 })
    .toBe("live");
}
afterAll(async () => {
  await browser?.close();
  await sql?.end();
  await stack?.stop();
});

describe("operator's console", () => {
  it("keeps the table updating live after 2,000 events, without a read per event", async () => {
    await signIn();
    const busy = await api.create({ prompt: uniquePrompt("busy") });
    await expect.poll(() => page.getByTestId(`job-row-${busy.id}`).count(), { timeout: 10_000 }).toBe(1);
    await page.evaluate("window.__sameDocument = true");
    requests.length = 0;
    const tenantId = (await sql.query<{ tenantId: string }>(`SELECT "tenantId" FROM "Job" WHERE id = $1`, [busy.id]))
      .rows[0]?.tenantId;
    for (let i = 0; i < 21; i++) {
      await sql.query(
        `INSERT INTO "JobEvent" (id, "jobId", "tenantId", type, data)
         SELECT 'evt_flood_' || $3 || '_' || g, $1, $2, 'job.progress', jsonb_build_object('percent', 1, 'stage', 'queued')
         FROM generate_series(1, 100) g`,
        [busy.id, tenantId, i],
      );
    }
    // After the flood, a status change and a new job still reach the table.
    expect((await api.post(`/v1/jobs/${busy.id}/cancel`)).status).toBe(200);
    const after = await api.create({ prompt: uniquePrompt("after the flood") });
    await expect
      .poll(() => page.getByTestId(`job-row-${busy.id}`).getAttribute("data-status"), { timeout: 15_000 })
      .toBe("canceled");
    await expect.poll(() => page.getByTestId(`job-row-${after.id}`).count(), { timeout: 15_000 }).toBe(1);
    expect(await page.evaluate("window.__sameDocument === true")).toBe(true);
    // The rows came with the events: no job was read again, and the counts were not reread per event.
    expect(requests.filter((p) => p.startsWith("/admin/api/jobs/"))).toEqual([]);
    expect(requests.filter((p) => p === "/admin/api/overview").length).toBeLessThan(10);
    expect(pageErrors, pageErrors.join("\n")).toEqual([]);
  }, 60_000);

  it("finds a job by a word of its prompt among 10,000, and the address keeps the search", async () => {
    const word = `zq${Math.random()
      .toString(36)
      .replace(/[^a-z]/g, "")
      .slice(0, 8)}`;
    const target = await api.create({ prompt: uniquePrompt(`a ${word} lighthouse at dusk`) });
    const tenantId = (await sql.query<{ tenantId: string }>(`SELECT "tenantId" FROM "Job" WHERE id = $1`, [target.id]))
      .rows[0]?.tenantId;
    // 9,999 more, older, several sharing the other words of its prompt.
    await sql.query(
      `INSERT INTO "Job" (id, "tenantId", status, model, prompt, n, size, quality, "maxAttempts", "deadlineSeconds",
         "deadlineAt", "webhookEvents", metadata, "createdAt", "updatedAt")
       SELECT 'job_' || lpad(upper(to_hex(g)), 26, '0'), $1,
         (ARRAY['succeeded','failed','canceled'])[1 + g % 3]::"JobStatus", 'gpt-4o-image',
         'a lighthouse at dusk, study ' || g, 1, '1024x1024', 'auto', 3, 600, now(), '{}', '{}',
         now() - make_interval(secs => g), now()
       FROM generate_series(1, 9999) g`,
      [tenantId],
    );
    await sql.query(`ANALYZE "Job"`);
    expect(Number((await sql.query(`SELECT count(*) AS n FROM "Job"`)).rows[0]?.n)).toBeGreaterThanOrEqual(10_000);

    await signIn();
    await page.getByTestId("search-input").fill(word.toUpperCase());
    await page.getByTestId("search-input").press("Enter");
    await expect.poll(() => page.locator("[data-testid^='job-row-']").count(), { timeout: 10_000 }).toBe(1);
    expect(await page.getByTestId(`job-row-${target.id}`).count()).toBe(1);
    expect(new URL(page.url()).searchParams.get("q")).toBe(word.toUpperCase());

    // The address holds the filter: a reload (or a link) shows the same view.
    await page.reload();
    await expect.poll(() => page.locator("[data-testid^='job-row-']").count(), { timeout: 10_000 }).toBe(1);
    expect(await page.getByTestId("search-input").inputValue()).toBe(word.toUpperCase());

    // Words are whole words; a status filter combines with them; clearing shows everything, paged.
    await page.getByTestId("search-input").fill("lighthouse dusk");
    await page.getByTestId("search-input").press("Enter");
    await page.getByTestId("status-failed").check();
    await expect
      .poll(async () =>
        (
          await page
            .locator("[data-testid^='job-row-']")
            .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-status")))
        ).join(),
      )
      .toMatch(/^(failed,){49}failed$/);
    expect(new URL(page.url()).searchParams.get("status")).toBe("failed");
    await page.goBack();
    await expect.poll(() => new URL(page.url()).searchParams.get("status")).toBe(null);
    await page.getByTestId("filter-clear").click();
    await expect.poll(() => page.locator("[data-testid^='job-row-']").count(), { timeout: 10_000 }).toBe(50);
    await page.getByTestId("jobs-older").click();
    await expect.poll(() => page.locator("[data-testid^='job-row-']").count(), { timeout: 10_000 }).toBe(100);
    // The filter bar and the table fit a phone: nothing scrolls sideways at 390 px.
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await sidewaysOverflow(page)).toBe(0);
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(pageErrors, pageErrors.join("\n")).toEqual([]);
  }, 90_000);
});
