import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

interface LockEntry {
  version?: string;
  integrity?: string;
  resolved?: string;
  link?: boolean;
}

// npm 11.6 wrote entries for other platforms' optional packages with no version; npm 11.19's
// `npm ci` then stops with "Invalid Version:" before installing anything. Every installed package
// needs both fields for `npm ci` with an empty cache.
describe("package-lock.json", () => {
  it("gives every installed package a version and an integrity hash", async () => {
    const lock = JSON.parse(await readFile(path.join(root, "package-lock.json"), "utf8")) as {
      lockfileVersion: number;
      packages: Record<string, LockEntry>;
    };
    expect(lock.lockfileVersion).toBe(3);
    const installed = Object.entries(lock.packages).filter(
      ([key, entry]) => key.includes("node_modules/") && !entry.link,
    );
    expect(installed.length).toBeGreaterThan(100);
    const incomplete = installed
      .filter(([, entry]) => !entry.version || !entry.integrity)
      .map(
        ([key, entry]) =>
          `${key} (version: ${entry.version ?? "none"}, integrity: ${entry.integrity ? "yes" : "none"})`,
      );
    expect(incomplete).toEqual([]);
  });
});
