import { tmpdir } from "node:os";
import path from "node:path";
import { STACK_ADMIN_TOKEN, type Stack, startStack, testRunId } from "@darkroom/testing";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sidewaysOverflow, type TestBrowser, useChromium, watchPageErrors } from "./browser";
import { startWebhookReceiver, verifiesWith, type WebhookReceiver } from "./support";

// Kept after the run for a person to look at, named by run (see dashboard.int.test.ts).
const screenshot = (name: string) => path.join(tmpdir(), `darkroom-tenants-${name}-${testRunId()}.png`);
const GRACE_HOURS = 24;

let stack: Stack;
let browser: TestBrowser;
let context: BrowserContext;
let page: Page;
let receiver: WebhookReceiver;
let pageErrors: string[] = [];

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  stack = await startStack({
    label: "dashboard-tenants",
    simulatorStepMs: 5,
    env: { ALLOW_PRIVATE_WEBHOOK_URLS: "true", WEBHOOK_SECRET_GRACE_HOURS: String(GRACE_HOURS) },
  });
  await stack.newApiKey("Acme");
  browser = await useChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: stack.apiUrl });
  page = await context.newPage();
  // The forms' refused input (a 400 answer, shown beside its field) is part of the test.
  pageErrors = watchPageErrors(page, /responded with a status of 400 \(Bad Request\)/);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await receiver?.close();
});

const admin = async <T>(path: string): Promise<T> => {
  const res = await fetch(`${stack.apiUrl}${path}`, { headers: { authorization: `Bearer ${STACK_ADMIN_TOKEN}` } });
  return (await res.json()) as T;
};
const tenantSettings = (id: string) => admin<Record<string, unknown>>(`/admin/api/tenants/${id}`);
const listJobs = async (key: string) =>
  (await fetch(`${stack.apiUrl}/v1/jobs?limit=1`, { headers: { authorization: `Bearer ${key}` } })).status;
const createJob = (key: string, body: Record<string, unknown>) =>
  fetch(`${stack.apiUrl}/v1/jobs`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });

// Generous: the machine may be busy with other suites, and each step waits for a real round trip.
const poll = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 10_000 });
const field = (name: string) => page.getByTestId(`setting-${name}`);
const fieldError = (name: string) => page.getByTestId(`setting-${name}-error`);

describe("dashboard tenants page", () => {
  it("creates a tenant, edits its settings, adds, uses and revokes a key, rotates its secret", {
    timeout: 90_000,
  }, async () => {
    await page.goto(`${stack.apiUrl}/dashboard/`);
    await page.getByTestId("token-input").fill(STACK_ADMIN_TOKEN);
    await page.getByTestId("sign-in").click();
    await page.getByTestId("nav-tenants").click();
    expect(page.url()).toBe(`${stack.apiUrl}/dashboard/tenants`);
    expect(await page.getByTestId("nav-tenants").getAttribute("aria-current")).toBe("page");

    const [acme] = (await admin<{ data: { id: string }[] }>("/admin/api/tenants")).data;
    const acmeRow = page.getByTestId(`tenant-row-${acme?.id}`);
    await poll(() => acmeRow.textContent()).toContain("Acme");
    await poll(() => page.getByTestId(`tenant-keys-${acme?.id}`).getAttribute("data-active")).toBe("1");
    expect(await acmeRow.textContent()).toContain(acme?.id);

    // A new tenant; a blank name is refused by the API, next to the field.
    await page.getByTestId("create-tenant").click();
    await poll(() => page.getByTestId("new-tenant-name-error").textContent()).toBe("Name must not be empty.");
    await page.getByTestId("new-tenant-name").fill("Globex");
    await page.getByTestId("create-tenant").click();
    const createdKey = page.getByTestId("created-api-key");
    await createdKey.waitFor();
    const firstKey = await createdKey.inputValue();
    const firstSecret = await page.getByTestId("created-webhook-secret").inputValue();
    expect(firstKey).toMatch(/^dr_/);
    expect(firstSecret).toMatch(/^whsec_/);
    expect(await listJobs(firstKey)).toBe(200);
    await page.getByTestId("created-api-key-copy").click();
    await poll(() => page.evaluate("navigator.clipboard.readText()")).toBe(firstKey);
    await poll(() => page.getByRole("row").filter({ hasText: "Globex" }).count()).toBe(1);
    expect(await sidewaysOverflow(page)).toBe(0);
    await page.screenshot({ path: screenshot("list-1280"), fullPage: true });

    await page.getByTestId("open-created-tenant").click();
    await page.getByTestId("tenant-name").waitFor();
    const tenantId = await page.getByTestId("tenant-id").textContent();
    expect(page.url()).toBe(`${stack.apiUrl}/dashboard/tenants/${tenantId}`);
    expect(await page.content()).not.toContain(firstKey);

    // Bad values: the API's messages, each beside its field; nothing is saved.
    await field("weight").fill("0");
    await field("monthly_budget_usd").fill("1.23456");
    await page.getByTestId("settings-save").click();
    await poll(() => fieldError("weight").textContent()).toBe("must be at least 1");
    expect(await fieldError("monthly_budget_usd").textContent()).toBe("must have at most 4 decimal places");
    expect(await field("weight").getAttribute("aria-invalid")).toBe("true");
    expect(await page.evaluate("document.activeElement?.id")).toBe("setting-weight");
    expect(await fieldError("max_concurrency").count()).toBe(0);
    expect(await tenantSettings(tenantId ?? "")).toMatchObject({ weight: 1, monthly_budget_usd: null });

    // Labelled inputs, edited from the keyboard.
    await page.getByLabel("Weight").fill("3");
    await page.getByLabel("Monthly budget (USD)").fill("12.5");
    await page.getByLabel("Max concurrency").fill("4");
    await page.getByLabel("Max concurrency").press("Enter");
    await poll(() => page.getByTestId("settings-status").textContent()).toBe("Saved.");
    expect(await fieldError("weight").count()).toBe(0);
    expect(await tenantSettings(tenantId ?? "")).toMatchObject({
      weight: 3,
      monthly_budget_usd: 12.5,
      max_concurrency: 4,
    });
    // An emptied field lifts the cap (null).
    await field("max_concurrency").fill("");
    await page.getByTestId("settings-save").click();
    await poll(async () => (await tenantSettings(tenantId ?? "")).max_concurrency).toBeNull();

    // The address names the tenant: a reload opens it again.
    await page.reload();
    await page.getByTestId("tenant-name").waitFor();
    expect(await page.getByTestId("tenant-name").textContent()).toBe("Globex");
    expect(await field("weight").inputValue()).toBe("3");
    expect(await field("max_concurrency").inputValue()).toBe("");

    // A second key, shown once, works against the API.
    await page.getByTestId("new-key-name").fill("ci");
    await page.getByTestId("add-key").click();
    await page.getByTestId("new-key-value").waitFor();
    const ciKey = await page.getByTestId("new-key-value").inputValue();
    expect(await listJobs(ciKey)).toBe(200);
    expect((await createJob(ciKey, { prompt: "tenants page key" })).status).toBe(202);
    const keys = (await admin<{ data: { id: string; name: string }[] }>(`/admin/api/tenants/${tenantId}/keys`)).data;
    const ciId = keys.find((k) => k.name === "ci")?.id ?? "";
    const ciRow = page.getByTestId(`key-row-${ciId}`);
    await poll(() => ciRow.textContent()).toContain(ciKey.slice(0, 10));
    expect(await page.getByTestId("keys-table").textContent()).not.toContain(ciKey);
    await page.screenshot({ path: screenshot("detail-1280"), fullPage: true });
    await page.getByTestId("new-key-done").click();
    expect(await page.content()).not.toContain(ciKey);

    // Revoke asks first; cancelling keeps the key.
    await page.getByTestId(`revoke-${ciId}`).click();
    const revokeDialog = page.getByTestId("revoke-dialog");
    await revokeDialog.waitFor();
    expect(await revokeDialog.textContent()).toContain(ciKey.slice(0, 10));
    await page.keyboard.press("Escape");
    await revokeDialog.waitFor({ state: "detached" });
    expect(await ciRow.getAttribute("data-revoked")).toBe("false");
    expect(await listJobs(ciKey)).toBe(200);
    await page.getByTestId(`revoke-${ciId}`).click();
    await page.getByTestId("revoke-dialog-confirm").click();
    await poll(() => ciRow.getAttribute("data-revoked")).toBe("true");
    const revokedAt = Date.now();
    await expect.poll(() => listJobs(ciKey), { timeout: 2_000 }).toBe(401);
    console.log(`key revoked from the dashboard refused after ${Date.now() - revokedAt} ms`);
    expect(await listJobs(firstKey)).toBe(200);

    // Rotation: confirmed, the new secret shown once with the end of the grace period.
    await page.getByTestId("rotate-secret").click();
    await page.getByTestId("rotate-dialog-confirm").click();
    await page.getByTestId("new-secret-value").waitFor();
    const newSecret = await page.getByTestId("new-secret-value").inputValue();
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(firstSecret);
    const until = Date.parse((await page.getByTestId("previous-valid-until").getAttribute("data-value")) ?? "");
    expect(Math.abs(until - (Date.now() + GRACE_HOURS * 3_600_000))).toBeLessThan(60_000);
    await poll(() => page.getByTestId("grace-until").count()).toBe(1);
    // The secret the page showed is the one that signs: a webhook verifies with it (and, in the grace, the old one).
    expect(
      (
        await createJob(firstKey, {
          prompt: "rotated",
          webhook_url: `${receiver.url}/rotated`,
          webhook_events: ["job.succeeded"],
        })
      ).status,
    ).toBe(202);
    const hook = await receiver.waitFor("/rotated");
    expect(verifiesWith(newSecret, hook)).toBe(true);
    expect(verifiesWith(firstSecret, hook)).toBe(true);

    // 390 px: nothing scrolls sideways, on the tenant or the list.
    expect(await sidewaysOverflow(page)).toBe(0);
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await sidewaysOverflow(page)).toBe(0);
    await page.screenshot({ path: screenshot("detail-390"), fullPage: true });
    await page.getByTestId("back-to-tenants").click();
    await poll(() => page.getByTestId(`tenant-keys-${tenantId}`).textContent()).toBe("1 active · 1 revoked");
    expect(page.url()).toBe(`${stack.apiUrl}/dashboard/tenants`);
    expect(await sidewaysOverflow(page)).toBe(0);
    await page.screenshot({ path: screenshot("list-390"), fullPage: true });

    expect(pageErrors, pageErrors.join("\n")).toEqual([]);
  });
});
