import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root. */
export const REPO_ROOT = path.resolve(here, "..", "..", "..");

/** Set by the suite's global setup; inherited by every test worker it forks. */
export const TEST_RUN_ENV = "DARKROOM_TEST_RUN";
/** The folder holding this run's own build (`dist/` bundles and the dashboard). */
export const TEST_BUILD_ENV = "DARKROOM_TEST_BUILD";

/** Everything a run names (databases, key prefixes, builds) starts with `r<pid>x`, so leftovers of dead runs can be found. */
const RUN_ID = /^r(\d+)x[0-9a-f]{4}$/;

/** A new run id: the pid of the process that owns the run, and a random part. */
export function newTestRunId(): string {
  return `r${process.pid}x${randomBytes(2).toString("hex")}`;
}

/**
 * The id of the current run. Outside the suite (the chaos and bench scripts) each process is a
 * run of its own.
 */
export function testRunId(): string {
  const existing = process.env[TEST_RUN_ENV];
  if (existing && RUN_ID.test(existing)) return existing;
  const id = newTestRunId();
  process.env[TEST_RUN_ENV] = id;
  return id;
}

/** The pid that owns a run id, or null when `name` carries none. */
export function ownerPidOf(runId: string): number | null {
  const match = RUN_ID.exec(runId);
  return match ? Number(match[1]) : null;
}

/** Where the bundles that whole-system tests start live: this run's build, else the repository's `dist/`. */
export function bundleDir(): string {
  const build = process.env[TEST_BUILD_ENV];
  return path.join(build ?? REPO_ROOT, "dist");
}
