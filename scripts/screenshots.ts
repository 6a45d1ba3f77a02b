// Regenerates the README's screenshots (docs/screenshots/*.png): starts the whole stack on this
// machine (the repository's dist/, so run `npm run build` first; `npm run screenshots` does),
// seeds representative jobs, and captures each view with Debian's chromium. A view whose controls
// are not in this build is skipped with a note, so the script runs on every branch.
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { dropRunDatabases, prepareTemplateDatabase, STACK_ADMIN_TOKEN, startStack } from "@darkroom/testing";
import { chromium, type Page } from "playwright-core";

const OUT = path.resolve("docs/screenshots");
await prepareTemplateDatabase();
const stack = await startStack({ label: "screenshots", workers: 2 });
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
try {
  await mkdir(OUT, { recursive: true });
  const post = async (apiKey: string, body: Record<string, unknown>) => {
    const res = await fetch(`${stack.apiUrl}/v1/jobs`, {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (res.status !== 202) throw new Error(`POST /v1/jobs answered ${res.status}: ${await res.text()}`);
  };
  const prompts = [
    "a lighthouse at dusk, oil painting",
    "a red fox in fresh snow",
    "isometric city block at night",
    "a bowl of ramen, studio light",
    "a sailboat in a storm",
    "[[sim script=http401]] a portrait in charcoal",
    "[[sim script=http500,http500,http500]] a desert road",
    "[[sim step_ms=400]] a long exposure of a waterfall",
  ];
  for (const tenant of ["Acme", "Globex"]) {
    const apiKey = await stack.newApiKey(tenant);
    for (const prompt of prompts) await post(apiKey, { prompt, metadata: { user: `u_${tenant.toLowerCase()}` } });
  }
  // Let most of them end, so the charts and the table show every outcome.
  await new Promise((r) => setTimeout(r, 8_000));

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${stack.apiUrl}/dashboard/`);
  await page.getByTestId("token-input").fill(STACK_ADMIN_TOKEN);
  await page.getByTestId("sign-in").click();
  await page.getByTestId("trend-jobs").locator("canvas").waitFor();
  const shoot = async (name: string, p: Page = page) => {
    await p.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
    console.log(`wrote docs/screenshots/${name}.png`);
  };
  await shoot("overview");

  const has = async (testId: string) => (await page.getByTestId(testId).count()) > 0;
  if (await has("search-input")) {
    await page.getByTestId("search-input").fill("lighthouse");
    await page.getByTestId("search-input").press("Enter");
    await page.waitForTimeout(1_000);
    await shoot("search");
  } else console.log("skipped search.png: no search-input in this build");

  await page.goto(`${stack.apiUrl}/dashboard/`);
  await page.locator("[data-testid^='job-row-']").first().click();
  await page.waitForTimeout(1_000);
  if (await has("job-detail")) {
    await shoot("job-detail");
  } else console.log("skipped job-detail.png: no job-detail in this build");

  await page.goto(`${stack.apiUrl}/dashboard/?status=failed`);
  if (await has("bulk-retry")) {
    await page.getByTestId("bulk-retry").click();
    await page.getByTestId("bulk-dialog").waitFor();
    await shoot("bulk-dialog");
  } else console.log("skipped bulk-dialog.png: no bulk-retry button in this build");
} finally {
  await browser.close();
  await stack.stop();
  await dropRunDatabases();
}
