import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { bundleDir, REPO_ROOT, TEST_BUILD_ENV, testRunId } from "./run";

/** Newest modification time of the TypeScript sources that go into the bundles. */
async function newestSource(): Promise<{ file: string; mtimeMs: number }> {
  let newest = { file: "", mtimeMs: 0 };
  for (const top of ["apps", "packages", "scripts"]) {
    const files = await readdir(path.join(REPO_ROOT, top), { recursive: true });
    for (const file of files) {
      // Build output is not source: the SDK's pack test writes packages/sdk/dist/*.d.ts during the run.
      const built = file.includes(`${path.sep}generated${path.sep}`) || file.split(path.sep).includes("dist");
      if (!file.endsWith(".ts") || file.includes("node_modules") || built) {
        continue;
      }
      const { mtimeMs } = await stat(path.join(REPO_ROOT, top, file));
      if (mtimeMs > newest.mtimeMs) newest = { file: path.join(top, file), mtimeMs };
    }
  }
  return newest;
}

// Whole-system tests start bundles, not sources: they must be this run's, built from the code on
// disk, however the run was started (`npm test` or `npx vitest run <file>`).
describe("the bundles whole-system tests start", () => {
  it("are this run's own build, made after the newest source", async () => {
    const build = process.env[TEST_BUILD_ENV];
    expect(build, "the global setup builds into a folder of the run").toBe(
      path.join(REPO_ROOT, ".test-builds", testRunId()),
    );
    expect(bundleDir()).toBe(path.join(build ?? "", "dist"));
    const source = await newestSource();
    for (const bundle of ["api.js", "worker.js", "cli.js", "start.js", "migrate.js", "simulator.js"]) {
      const { mtimeMs } = await stat(path.join(bundleDir(), bundle));
      expect(mtimeMs, `${bundle} is older than ${source.file}`).toBeGreaterThanOrEqual(source.mtimeMs);
    }
    await stat(path.join(build ?? "", "apps", "dashboard", "dist", "index.html"));
  });

  it("include a migrate bundle that runs on pg alone, without loading the Prisma client", async () => {
    // The image's migrate role (`node dist/migrate.js`, see the Dockerfile) runs it before the others.
    const source = await readFile(path.join(bundleDir(), "migrate.js"), "utf8");
    expect(source).toMatch(/from "pg"/);
    expect(source).not.toMatch(/@prisma\//);
  });
});
