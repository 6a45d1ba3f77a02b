import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The documents a reader follows: the READMEs and everything in docs/. */
const DOCUMENTS = [
  "README.md",
  "packages/sdk/README.md",
  "apps/upstream-simulator/README.md",
  ...readdirSync(path.join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** The text without fenced code blocks and inline code, where `[a](b)` is not a link. */
function prose(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "").replace(/(`+)[^`\n]*?\1/g, "");
}

/** GitHub's anchors of a document's headings (lower case, punctuation dropped, spaces to dashes, repeats numbered). */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, heading] of prose(markdown).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = (heading ?? "")
      .replace(/<[^>]+>/g, "")
      .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Every relative link of a document that does not lead to a file of the repository (or to its heading). */
function brokenLinks(document: string): string[] {
  const text = readFileSync(path.join(root, document), "utf8");
  const broken: string[] = [];
  for (const [, target] of prose(text).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    if (target === undefined || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
    const [file = "", anchor] = target.split("#");
    const resolved = file === "" ? path.join(root, document) : path.resolve(root, path.dirname(document), file);
    const inside = !path.relative(root, resolved).startsWith("..");
    if (!inside || !existsSync(resolved)) {
      broken.push(`${target} (no such file in the repository)`);
      continue;
    }
    if (anchor !== undefined && resolved.endsWith(".md") && statSync(resolved).isFile()) {
      if (!anchors(readFileSync(resolved, "utf8")).has(anchor)) broken.push(`${target} (no such heading)`);
    }
  }
  return broken;
}

describe("documentation links", () => {
  it.each(DOCUMENTS)("every relative link in %s leads to a file (and heading) of the repository", (document) => {
    expect(brokenLinks(document)).toEqual([]);
  });

  it("sees links, headings and what is not a link", () => {
    expect(prose("a [x](y.md) `[c](d)`\n```\n[e](f)\n```\n")).toBe("a [x](y.md) \n\n");
    expect([...anchors("## 9. Known failure modes\n## Events and webhooks\n## Events and webhooks")]).toEqual([
      "9-known-failure-modes",
      "events-and-webhooks",
      "events-and-webhooks-1",
    ]);
  });
});
