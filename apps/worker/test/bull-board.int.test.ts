import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { STACK_ADMIN_TOKEN, type Stack, startProcess, startStack } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestBrowser, useChromium, watchPageErrors } from "./browser";
import { client, uniquePrompt } from "./support";

/**
 * Bull Board at /admin/queues behind the admin token: refused without it, reached with a Bearer
 * header or with the session the dashboard's sign-in opens; in chromium it shows Darkroom's
 * queues with nothing loaded from elsewhere and no CSP violation.
 */

let stack: Stack;
let browser: TestBrowser;

beforeAll(async () => {
  stack = await startStack({ label: "bullboard" });
  browser = await useChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe("Bull Board", () => {
  it("is refused without the admin token, and served with it or with the dashboard's session", async () => {
    const page = (headers: Record<string, string> = {}) =>
      fetch(`${stack.apiUrl}/admin/queues/`, { headers, redirect: "manual" });
    expect((await page()).status).toBe(401);
    expect((await page({ authorization: "Bearer wrong" })).status).toBe(401);
    expect((await page({ cookie: "darkroom_queues=forged" })).status).toBe(401);
    const withToken = await page({ authorization: `Bearer ${STACK_ADMIN_TOKEN}` });
    expect(withToken.status).toBe(200);
    expect(withToken.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(withToken.headers.get("cache-control")).toBe("no-store");
    expect(await withToken.text()).not.toContain("fonts.googleapis.com");

    // The session needs the token, and is a cookie for /admin/queues only, without the token in it.
    expect((await fetch(`${stack.apiUrl}/admin/api/session`, { method: "POST" })).status).toBe(401);
    const session = await fetch(`${stack.apiUrl}/admin/api/session`, {
      method: "POST",
      headers: { authorization: `Bearer ${STACK_ADMIN_TOKEN}` },
    });
    expect(session.status).toBe(204);
    const cookie = session.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^darkroom_queues=[\w-]+; Path=\/admin\/queues; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    expect(cookie).not.toContain(STACK_ADMIN_TOKEN);
    expect((await page({ cookie: cookie.split(";")[0] ?? "" })).status).toBe(200);
  });

  it("opens from the dashboard's Queues link and shows the generation queue with its jobs", {
    timeout: 60_000,
  }, async () => {
    const api = client(stack, await stack.newApiKey("queues"));
    await api.waitTerminal((await api.create({ prompt: uniquePrompt("a lighthouse") })).id);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems = watchPageErrors(page);
    const elsewhere: string[] = [];
    page.on("request", (request) => {
      if (!request.url().startsWith(stack.apiUrl) && !request.url().startsWith("data:")) elsewhere.push(request.url());
    });
    // The session's answer comes late, as on a loaded machine: the link clicked at once still opens.
    await page.route("**/admin/api/session", async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await route.continue();
    });
    await page.goto(`${stack.apiUrl}/dashboard/`);
    await page.getByTestId("token-input").fill(STACK_ADMIN_TOKEN);
    await page.getByTestId("sign-in").click();
    await page.getByTestId("live-indicator").waitFor();
    await page.getByTestId("nav-queues").click();
    await page.waitForURL(/\/admin\/queues/);
    for (const queue of ["generation", "webhooks", "maintenance"]) {
      await expect.poll(() => page.getByText(queue).count(), { timeout: 30_000 }).toBeGreaterThan(0);
    }
    expect(elsewhere).toEqual([]);
    expect(problems, problems.join("\n")).toEqual([]);
    await page.unroute("**/admin/api/session");
    // Signing out ends the session: the page is refused again.
    await page.goto(`${stack.apiUrl}/dashboard/`);
    await page.getByTestId("sign-out").click();
    await page.getByTestId("token-input").waitFor();
    await expect
      .poll(async () => (await page.request.get(`${stack.apiUrl}/admin/queues/`)).status(), { timeout: 5_000 })
      .toBe(401);
    await page.close();
  });
});

describe("Bull Board's page template", () => {
  it("is written to a folder of the API process's own, removed when the process stops", async () => {
    const tmp = await mkdtemp(path.join(tmpdir(), "darkroom-views-"));
    try {
      const { url, process: api } = await stack.addApi({ TMPDIR: tmp });
      const views = (await readdir(tmp)).filter((name) => name.startsWith("darkroom-bull-board-"));
      expect(views).toHaveLength(1);
      const folder = path.join(tmp, views[0] ?? "");
      expect((await stat(folder)).mode & 0o077).toBe(0);
      expect(await readFile(path.join(folder, "index.ejs"), "utf8")).not.toContain("fonts.googleapis.com");
      const page = await fetch(`${url}/admin/queues/`, { headers: { authorization: `Bearer ${STACK_ADMIN_TOKEN}` } });
      expect(page.status).toBe(200);
      expect(await api.stop("SIGTERM")).toBe(0);
      expect(await readdir(tmp)).toEqual([]);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it("is removed too by an API that never closes: one that cannot listen (its port taken)", async () => {
    const tmp = await mkdtemp(path.join(tmpdir(), "darkroom-views-"));
    try {
      const taken = new URL(stack.apiUrl).port;
      const api = startProcess("api.js", { ...stack.env, PORT: taken, TMPDIR: tmp });
      await api.waitFor(/EADDRINUSE/);
      const code = await new Promise<number | null>((resolve) =>
        api.child.exitCode !== null ? resolve(api.child.exitCode) : api.child.once("exit", resolve),
      );
      expect(code).not.toBe(0);
      expect(await readdir(tmp)).toEqual([]);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
