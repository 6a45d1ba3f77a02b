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
