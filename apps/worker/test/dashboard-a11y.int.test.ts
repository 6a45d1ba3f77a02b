import { createRequire } from "node:module";
import { STACK_ADMIN_TOKEN, type Stack, startStack } from "@darkroom/testing";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sidewaysOverflow, type TestBrowser, useChromium, watchPageErrors } from "./browser";
import { client, uniquePrompt } from "./support";

/**
 * Every dashboard view at 1280 and 390 px: nothing scrolls sideways, axe-core finds no serious or
 * critical violation, and no page or console error. To check a new view, add it to VIEWS.
 */

const AXE_SOURCE: string = createRequire(import.meta.url)("axe-core").source;
/** Each view is checked at these widths, in this order, on one page. */
const WIDTHS = [1280, 390] as const;

let stack: Stack;
let browser: TestBrowser;
let tenantId: string;
let jobId: string;

interface View {
  name: string;
  /** Opens the view on a page that is signed in (or not, for the sign-in view). */
  open(page: Page): Promise<void>;
}

const signIn = async (page: Page) => {
  await page.goto(`${stack.apiUrl}/dashboard/`);
  await page.getByTestId("token-input").fill(STACK_ADMIN_TOKEN);
  await page.getByTestId("sign-in").click();
  await expect.poll(() => page.getByTestId("live-indicator").count(), { timeout: 10_000 }).toBe(1);
};

const VIEWS: View[] = [
  {
    name: "sign-in",
    open: async (page) => {
      await page.goto(`${stack.apiUrl}/dashboard/`);
      await page.getByTestId("token-input").waitFor();
    },
  },
  {
    name: "jobs",
    open: async (page) => {
      await signIn(page);
      await expect.poll(() => page.getByTestId("trend-jobs").locator("canvas").count()).toBe(1);
    },
  },
  {
    name: "tenants",
    open: async (page) => {
      await signIn(page);
      await page.goto(`${stack.apiUrl}/dashboard/tenants`);
      await page.getByTestId(`tenant-link-${tenantId}`).waitFor();
    },
  },
  {
    name: "tenant detail",
    open: async (page) => {
      await signIn(page);
      await page.goto(`${stack.apiUrl}/dashboard/tenants/${tenantId}`);
      await page.getByRole("heading", { name: "Acme" }).first().waitFor();
    },
  },
  {
    name: "search results",
    open: async (page) => {
      await signIn(page);
      await page.goto(`${stack.apiUrl}/dashboard/?q=lighthouse&status=succeeded`);
      await page.getByTestId(`job-row-${jobId}`).waitFor();
    },
  },
  {
    name: "job page",
    open: async (page) => {
      await signIn(page);
      await page.goto(`${stack.apiUrl}/dashboard/jobs/${jobId}`);
      await page.getByTestId("detail-image-0").waitFor();
    },
  },
  {
    name: "bulk dialog",
    open: async (page) => {
      await signIn(page);
      await page.goto(`${stack.apiUrl}/dashboard/?q=lighthouse`);
      await page.getByTestId("bulk-retry").click();
      await expect.poll(() => page.getByTestId("bulk-count").getAttribute("data-value")).toBe("1");
    },
  },
];

beforeAll(async () => {
  stack = await startStack({ label: "dasha11y" });
  const api = client(stack, await stack.newApiKey("Acme"));
  const res = await fetch(`${stack.apiUrl}/admin/api/tenants`, {
    headers: { authorization: `Bearer ${STACK_ADMIN_TOKEN}` },
  });
  const tenants = (await res.json()) as { data: { id: string; name: string }[] };
  tenantId = tenants.data.find((t) => t.name === "Acme")?.id ?? "";
  jobId = (await api.create({ prompt: uniquePrompt("a lighthouse") })).id;
  await api.waitTerminal(jobId);
  browser = await useChromium();
}, 90_000);
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

/** axe-core's serious and critical violations on the page, one line each. */
async function axeViolations(page: Page): Promise<string[]> {
  // Evaluated through the debugging protocol: an inline <script> (addScriptTag) is what the
  // dashboard's CSP rightly refuses. Once per loaded page.
  if ((await page.evaluate("typeof axe")) === "undefined") await page.evaluate(AXE_SOURCE);
  const violations = (await page.evaluate(`axe.run(document).then((r) => r.violations.map((v) => ({
    id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 3) })))`)) as {
    id: string;
    impact: string | null;
    nodes: string[];
  }[];
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id}: ${v.nodes.join(", ")}`);
}

describe("dashboard views: width, accessibility, errors", () => {
  for (const view of VIEWS) {
    // One page per view, checked wide and then narrowed: the dashboard's layout follows the width
    // (CSS, and the charts' ResizeObserver), so a narrowed page is laid out as one opened narrow,
    // without a second sign-in and a second load of axe-core (half this file's CPU when each width
    // had a page of its own, on a suite that is CPU-bound).
    it(`${view.name} at 1280 and 390 px`, { timeout: 60_000 }, async () => {
      const page = await browser.newPage({ viewport: { width: WIDTHS[0], height: 900 } });
      const problems = watchPageErrors(page);
      await view.open(page);
      for (const width of WIDTHS) {
        await page.setViewportSize({ width, height: 900 });
        // Two frames: the resize observers run and the page is drawn at the new width.
        await page.evaluate("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))");
        expect(await page.evaluate("document.documentElement.clientWidth"), "viewport").toBe(width);
        expect(await sidewaysOverflow(page), `sideways scroll at ${width} px`).toBeLessThanOrEqual(0);
        expect(await axeViolations(page), `at ${width} px`).toEqual([]);
      }
      expect(problems, problems.join("\n")).toEqual([]);
      await page.close();
    });
  }
});

describe("dashboard by keyboard", () => {
  /** Presses Tab until the focused element has the test id; fails after `limit` presses. */
  const tabTo = async (page: Page, testId: string, limit = 40) => {
    for (let i = 0; i < limit; i++) {
      await page.keyboard.press("Tab");
      if ((await page.evaluate("document.activeElement?.getAttribute('data-testid')")) === testId) return;
    }
    throw new Error(`Tab never reached ${testId}`);
  };
  const focusOutline = (page: Page) =>
    page.evaluate("getComputedStyle(document.activeElement).outlineStyle") as Promise<string>;

  it("signs in and reaches the chart window switch with Tab, the focus visible", { timeout: 60_000 }, async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await page.goto(`${stack.apiUrl}/dashboard/`);
    await tabTo(page, "token-input");
    await page.keyboard.type(STACK_ADMIN_TOKEN);
    await tabTo(page, "sign-in");
    expect(await focusOutline(page)).not.toBe("none");
    await page.keyboard.press("Enter");
    await page.getByTestId("live-indicator").waitFor();
    await tabTo(page, "trend-window-1h");
    expect(await focusOutline(page)).not.toBe("none");
    await page.keyboard.press("ArrowRight");
    await expect
      .poll(() => page.getByTestId("trends").locator("[data-window]").getAttribute("data-window"))
      .toBe("24h");
    await page.close();
  });
});
