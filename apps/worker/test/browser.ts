import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

// Debian's chromium, driven by playwright-core: no browser download in tests or CI.
const CHROMIUM = "/usr/bin/chromium";

/**
 * One Chromium per test process, shared by the files that run in it (the suite's forks run file
 * after file, see vitest.config.ts): launching and closing one costs about 3.3 CPU-s, and 13 files
 * open pages. Each file's pages live in browser contexts of their own (no cookies, storage or
 * cache shared), which `TestBrowser.close()` closes. A Chromium that crashed or was closed is
 * launched again on the next call; the last one ends with its test process.
 */
let shared: Promise<Browser> | undefined;

function sharedChromium(): Promise<Browser> {
  if (shared === undefined) {
    const launching = chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
    const forget = () => {
      if (shared === launching) shared = undefined;
    };
    launching.then((browser) => browser.on("disconnected", forget), forget);
    shared = launching;
  }
  return shared;
}

/** A test file's view of the shared Chromium: its own contexts, closed together. */
export interface TestBrowser {
  /** A page in a new context of its own (closing the page closes the context). */
  newPage(options?: Parameters<Browser["newPage"]>[0]): Promise<Page>;
  newContext(options?: Parameters<Browser["newContext"]>[0]): Promise<BrowserContext>;
  /** Closes every context this file opened; the browser stays for the next file. */
  close(): Promise<void>;
}

/** This test process's Chromium (launched on first use), seen through contexts of the caller's own. */
export async function useChromium(): Promise<TestBrowser> {
  const browser = await sharedChromium();
  const contexts = new Set<BrowserContext>();
  const track = (context: BrowserContext) => {
    contexts.add(context);
    context.on("close", () => contexts.delete(context));
    return context;
  };
  return {
    async newPage(options) {
      const page = await browser.newPage(options);
      track(page.context());
      return page;
    },
    async newContext(options) {
      return track(await browser.newContext(options));
    },
    async close() {
      await Promise.all([...contexts].map((context) => context.close().catch(() => {})));
    },
  };
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
