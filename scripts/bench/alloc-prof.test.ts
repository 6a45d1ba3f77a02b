import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it, onTestFinished } from "vitest";

const PRELOAD = path.join(import.meta.dirname, "alloc-prof.mjs");

interface ProfileNode {
  callFrame: { functionName: string };
  selfSize: number;
  children: ProfileNode[];
}

/** Bytes the profile gives to functions of this name. */
function bytesOf(node: ProfileNode, name: string): number {
  const own = node.callFrame.functionName === name ? node.selfSize : 0;
  return own + node.children.reduce((sum, child) => sum + bytesOf(child, name), 0);
}

describe("the bench's allocation profile", () => {
  it("counts what a process allocated, freed garbage included, and writes it when the process exits", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "darkroom-alloc-prof-"));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    // 40 MB of short-lived objects, none alive at the end: a survivors-only profile shows ~nothing.
    const script = `
      function churn() { let keep = null; for (let i = 0; i < 500000; i++) keep = { i, pad: [i, i, i, i] }; return keep; }
      churn(); process.exit(0);`;
    await promisify(execFile)(process.execPath, ["--import", PRELOAD, "-e", script], {
      env: { PATH: process.env.PATH ?? "", BENCH_ALLOC_PROF_DIR: dir },
    });
    const files = await readdir(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^\d+\.heapprofile$/);
    const profile = JSON.parse(await readFile(path.join(dir, files[0] as string), "utf8")) as { head: ProfileNode };
    expect(bytesOf(profile.head, "churn")).toBeGreaterThan(20e6);
  });

  it("does nothing without its folder", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", PRELOAD, "-e", "console.log('ok')"], {
      env: { PATH: process.env.PATH ?? "" },
    });
    expect(stdout.trim()).toBe("ok");
  });
});
