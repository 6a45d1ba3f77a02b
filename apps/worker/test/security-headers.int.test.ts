import { STACK_ADMIN_TOKEN, type Stack, startStack } from "@darkroom/testing";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestBrowser, useChromium } from "./browser";

/**
 * Security headers on every kind of answer (dashboard, admin API, v1 API, /docs), and the
 * dashboard and the reference running under their CSP in chromium without one violation.
 */

let stack: Stack;
let browser: TestBrowser;
let apiKey: string;

beforeAll(async () => {
  stack = await startStack({ label: "secheaders" });
  apiKey = await stack.newApiKey("acme");
  browser = await useChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

const headersOf = async (pathname: string, authorization?: string) => {
  const res = await fetch(`${stack.apiUrl}${pathname}`, {
    headers: authorization === undefined ? {} : { authorization },
  });
  await res.arrayBuffer();
  return { status: res.status, headers: res.headers };
};
const directives = (csp: string | null) =>
  new Map(
    (csp ?? "")
      .split(";")
      .map((d) => d.trim().split(/\s+/))
      .map(([name, ...values]) => [name, values]),
  );

/** Opens a page, and collects CSP violations, page errors and console errors while `act` runs. */
async function watch(act: (page: Page) => Promise<void>): Promise<string[]> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console: ${message.text()}`);
  });
  page.on("response", (response) => {
    if (response.status() >= 400) problems.push(`${response.status()}: ${response.url()}`);
  });
  await page.exposeFunction("__cspViolation", (text: string) => problems.push(`csp: ${text}`));
  await page.addInitScript({
    content: `document.addEventListener("securitypolicyviolation", (e) =>
      window.__cspViolation(e.violatedDirective + " " + e.blockedURI));`,
  });
  await act(page);
  await page.close();
  return problems;
}

describe("security headers", () => {
  it("sets nosniff, no framing and a CSP on every kind of answer, and no-store on admin ones", async () => {
    const answers = {
      dashboard: await headersOf("/dashboard/"),
      overview: await headersOf("/admin/api/overview", `Bearer ${STACK_ADMIN_TOKEN}`),
      adminRefused: await headersOf("/admin/api/overview"),
      v1: await headersOf("/v1/jobs", `Bearer ${apiKey}`),
      docs: await headersOf("/docs"),
    };
    expect(answers.dashboard.status).toBe(200);
    expect(answers.overview.status).toBe(200);
    expect(answers.adminRefused.status).toBe(401);
    expect(answers.v1.status).toBe(200);
    for (const [name, { headers }] of Object.entries(answers)) {
      expect(headers.get("x-content-type-options"), name).toBe("nosniff");
      expect(headers.get("x-frame-options"), name).toBe("DENY");
      expect(directives(headers.get("content-security-policy")).get("frame-ancestors"), name).toEqual(["'none'"]);
    }
    for (const name of ["overview", "adminRefused"] as const) {
      expect(answers[name].headers.get("cache-control"), name).toBe("no-store");
    }
    const dashboard = directives(answers.dashboard.headers.get("content-security-policy"));
    expect(dashboard.get("default-src")).toEqual(["'self'"]);
    expect(dashboard.get("script-src")).toEqual(["'self'"]);
    expect(dashboard.get("object-src")).toEqual(["'none'"]);
    expect(dashboard.get("base-uri")).toEqual(["'self'"]);
    for (const name of ["overview", "v1"] as const) {
      expect(directives(answers[name].headers.get("content-security-policy")).get("default-src"), name).toEqual([
        "'none'",
      ]);
    }
  });

  it("runs the signed-in dashboard with no CSP violation or page error", { timeout: 60_000 }, async () => {
    const problems = await watch(async (page) => {
      await page.goto(`${stack.apiUrl}/dashboard/`);
      await page.getByTestId("token-input").fill(STACK_ADMIN_TOKEN);
      await page.getByTestId("sign-in").click();
      await expect
        .poll(() => page.getByTestId("live-indicator").getAttribute("data-state"), { timeout: 10_000 })
        .toBe("live");
      // The charts (uPlot: a canvas, its own styles) are drawn under the same policy.
      await expect.poll(() => page.getByTestId("trend-jobs").locator("canvas").count()).toBe(1);
      await page.goto(`${stack.apiUrl}/dashboard/tenants`);
      await expect.poll(() => page.getByRole("heading").count()).toBeGreaterThan(0);
    });
    expect(problems).toEqual([]);
  });

  it("renders the API reference (Redoc) under its own CSP with no violation", { timeout: 60_000 }, async () => {
    const problems = await watch(async (page) => {
      await page.goto(`${stack.apiUrl}/docs`);
      await expect.poll(() => page.locator(".api-content").count(), { timeout: 20_000 }).toBeGreaterThan(0);
    });
    expect(problems).toEqual([]);
  });
});
