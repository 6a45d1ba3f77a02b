import { type Browser, chromium, type Page } from "playwright-core";

// Debian's chromium, driven by playwright-core: no browser download in tests or CI.
const CHROMIUM = "/usr/bin/chromium";

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

/**
 * How far anything scrolls sideways: the page itself, or any box of it that scrolls (a wide table
 * in an `overflow-x: auto` wrapper). 0 when nothing does. Inputs scroll their text inside and are
 * not boxes that scroll.
 */
export function sidewaysOverflow(page: Page): Promise<number> {
  return page.evaluate(`(() => {
    const root = document.documentElement;
    let worst = Math.max(root.scrollWidth, document.body.scrollWidth) - root.clientWidth;
    for (const el of document.querySelectorAll("body *")) {
      const { overflowX } = getComputedStyle(el);
      if (overflowX === "auto" || overflowX === "scroll") worst = Math.max(worst, el.scrollWidth - el.clientWidth);
    }
    return worst;
  })()`) as Promise<number>;
}

/**
 * Every uncaught error of `page` and every error it logs to the console, as they happen (the array
 * fills while the test runs): a test ends with `expect(errors, errors.join("\n")).toEqual([])`.
 * `expectedConsole` names console errors the test causes on purpose (the browser logs every 4xx
 * answer to a fetch as one).
 */
export function watchPageErrors(page: Page, expectedConsole?: RegExp): string[] {
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() !== "error" || expectedConsole?.test(message.text())) return;
    errors.push(`console: ${message.text()} (${message.location().url})`);
  });
  return errors;
}
