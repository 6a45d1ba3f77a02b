import { STACK_ADMIN_TOKEN, type Stack, startStack } from "@darkroom/testing";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestBrowser, useChromium, watchPageErrors } from "./browser";
import { client, startWebhookReceiver, uniquePrompt, upstreamCalls } from "./support";

/**
 * An operator acting on jobs from their pages in the console (Debian chromium, the whole system,
 * the simulator as upstream): cancel a running job and see its upstream call end; retry a failed
 * job and see it succeed; each recorded in the job's events with `actor: admin`.
 */

let stack: Stack;
let browser: TestBrowser;
let page: Page;
let api: ReturnType<typeof client>;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
let pageErrors: string[] = [];

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  stack = await startStack({ label: "console-act", env: { ALLOW_PRIVATE_WEBHOOK_URLS: "true" } });
  api = client(stack, await stack.newApiKey("actions"));
  browser = await useChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  pageErrors = watchPageErrors(page);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await receiver?.close();
});

/** Opens a job's own page (signing in on the way when needed). */
async function openJobPage(id: string) {
  await page.goto(`${stack.apiUrl}/dashboard/jobs/${id}`);
  if ((await page.getByTestId("token-input").count()) > 0) {
    await page.getByTestId("token-input").fill(STACK_ADMIN_TOKEN);
    await page.getByTestId("sign-in").click();
  }
  await expect.poll(() => page.getByTestId("job-detail").count(), { timeout: 10_000 }).toBe(1);
}

/** The job's events as the console reads them. */
async function eventsOf(id: string): Promise<{ type: string; data: Record<string, unknown> }[]> {
  const res = await fetch(`${stack.apiUrl}/admin/api/jobs/${id}`, {
    headers: { authorization: `Bearer ${STACK_ADMIN_TOKEN}` },
  });
  return ((await res.json()) as { events: { type: string; data: Record<string, unknown> }[] }).events;
}

describe("acting on a job from its page", () => {
  it("cancels a running job: the upstream call ends at once, and the event names the operator", async () => {
    // Steps of 1 s: the call still streams when the page is open and the button is clicked,
    // however long the page takes to open on a loaded machine (5 s of stream were seen to end first).
    const prompt = uniquePrompt("[[sim step_ms=1000]]");
    const job = await api.create({ prompt });
    await api.waitFor(job.id, (j) => j.status === "running" && j.progress.percent > 0, 20_000);
    await openJobPage(job.id);
    expect(new URL(page.url()).pathname).toBe(`/dashboard/jobs/${job.id}`);
    await page.getByTestId("detail-cancel").click();
    await expect.poll(() => upstreamCalls(stack, prompt)[0]?.closedByClient, { timeout: 5_000 }).toBe(true);
    await expect
      .poll(() => page.getByTestId(`job-row-${job.id}`).getAttribute("data-status"), { timeout: 10_000 })
      .toBe("canceled");
    // The live feed may show the canceled row before the cancel request's answer reaches the page.
    await expect.poll(() => page.getByTestId("detail-outcome").textContent()).toBe("Cancel: done.");
    expect((await api.get(job.id)).status).toBe("canceled");
    const canceled = (await eventsOf(job.id)).find((e) => e.type === "job.canceled");
    expect(canceled?.data).toEqual({ previous_status: "running", actor: "admin" });
    // The whole run took one upstream call, ended by the cancel long before its ten steps.
    expect(upstreamCalls(stack, prompt)).toHaveLength(1);
  }, 60_000);

  it("retries a failed job: it runs again and succeeds, and the event names the operator", async () => {
    // The first call fails (500) with no attempt left; the rerun's call succeeds.
    const prompt = uniquePrompt("[[sim script=http500]]");
    const job = await api.create({
      prompt,
      max_attempts: 1,
      fallback_model: null,
      webhook_url: `${receiver.url}/failed`,
    });
    expect((await api.waitTerminal(job.id, 60_000)).status).toBe("failed");
    await receiver.waitFor("/failed", 60_000);
    await openJobPage(job.id);
    // Its webhook delivery shows what the receiver answered; a redelivery is asked and recorded.
    const detail = page.getByTestId("job-detail");
    await expect
      .poll(() => detail.locator("[data-testid$='-response']").first().textContent(), { timeout: 10_000 })
      .toBe("ok");
    await detail.locator("[data-testid^='redeliver-']").first().click();
    await expect.poll(() => page.getByTestId("detail-outcome").textContent()).toBe("Redeliver: done.");
    await expect.poll(() => detail.locator(".flag", { hasText: "redelivery" }).count(), { timeout: 10_000 }).toBe(1);
    expect((await eventsOf(job.id)).find((e) => e.type === "job.webhook_redelivered")?.data.actor).toBe("admin");
    await expect.poll(() => page.getByTestId("detail-retry").count(), { timeout: 10_000 }).toBe(1);
    await page.getByTestId("detail-retry").click();
    await expect
      .poll(() => page.getByTestId(`job-row-${job.id}`).getAttribute("data-status"), { timeout: 20_000 })
      .toBe("succeeded");
    expect((await api.get(job.id)).status).toBe("succeeded");
    const retried = (await eventsOf(job.id)).find((e) => e.type === "job.queued" && e.data.retry === true);
    expect(retried?.data).toEqual({ status: "queued", retry: true, actor: "admin" });
    // A succeeded job offers neither action.
    // (The panel reloads its job after the table's row changed: it may show "running" a moment longer.)
    await expect
      .poll(
        async () =>
          (await page.getByTestId("detail-retry").count()) + (await page.getByTestId("detail-cancel").count()),
      )
      .toBe(0);
    expect(pageErrors, pageErrors.join("\n")).toEqual([]);
  }, 120_000);

  it("bulk-retries the failed jobs of a filter after confirming their count; again, there is nothing left to do", async () => {
    const word = `bulk${Math.random()
      .toString(36)
      .replace(/[^a-z]/g, "")
      .slice(0, 8)}`;
    // The first call of each fails (500) with no attempt left; a rerun's call succeeds.
    const mine = await Promise.all(
      [1, 2, 3].map((i) =>
        api.create({
          prompt: uniquePrompt(`${word} ${i} [[sim script=http500]]`),
          max_attempts: 1,
          fallback_model: null,
        }),
      ),
    );
    const others = await Promise.all(
      [1, 2].map((i) =>
        api.create({
          prompt: uniquePrompt(`other ${i} [[sim script=http500]]`),
          max_attempts: 1,
          fallback_model: null,
        }),
      ),
    );
    for (const job of [...mine, ...others]) expect((await api.waitTerminal(job.id, 60_000)).status).toBe("failed");

    await page.goto(`${stack.apiUrl}/dashboard/?status=failed&q=${word}`);
    if ((await page.getByTestId("token-input").count()) > 0) {
      await page.getByTestId("token-input").fill(STACK_ADMIN_TOKEN);
      await page.getByTestId("sign-in").click();
    }
    await expect.poll(() => page.locator("[data-testid^='job-row-']").count(), { timeout: 10_000 }).toBe(3);
    await page.getByTestId("bulk-retry").click();
    const dialog = page.getByTestId("bulk-dialog");
    await expect.poll(() => dialog.getByTestId("bulk-count").getAttribute("data-value"), { timeout: 10_000 }).toBe("3");
    await dialog.getByTestId("bulk-dialog-confirm").click();
    await expect
      .poll(() => page.getByTestId("bulk-progress").getAttribute("data-state"), { timeout: 15_000 })
      .toBe("succeeded");
    expect(await page.getByTestId("bulk-progress").textContent()).toMatch(
      /3\/3 processed, 3 done, 0 skipped, 0 failed/,
    );
    for (const job of mine) expect((await api.waitTerminal(job.id, 20_000)).status).toBe("succeeded");
    for (const job of others) expect((await api.get(job.id)).status).toBe("failed");

    // Again: the filter matches nothing now, so there is nothing to confirm.
    await page.getByTestId("bulk-retry").click();
    await expect.poll(() => dialog.getByTestId("bulk-count").getAttribute("data-value"), { timeout: 10_000 }).toBe("0");
    expect(await dialog.getByTestId("bulk-dialog-confirm").isDisabled()).toBe(true);
    await dialog.getByTestId("bulk-dialog-cancel").click();
    for (const job of mine) {
      const retries = (await eventsOf(job.id)).filter((e) => e.type === "job.queued" && e.data.retry === true);
      expect(retries.map((e) => e.data.actor)).toEqual(["admin"]);
    }
    expect(pageErrors, pageErrors.join("\n")).toEqual([]);
  }, 150_000);
});
