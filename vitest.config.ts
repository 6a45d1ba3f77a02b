import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * The slowest files start first: the chaos file (minutes) and then the whole-system files, so that
 * the run's wall time is close to max(chaos, rest / workers) rather than rest / workers + chaos.
 * Vitest's own order (larger files first, without a results cache, which a fresh clone never has)
 * would start the short chaos file near the end.
 */
const WEIGHTS: [RegExp, number][] = [
  [/chaos[^/]*\.test\.ts$/, 0],
  [/\/apps\/[^/]+\/test\/[^/]+\.int\.test\.ts$/, 1],
  [/\.int\.test\.ts$/, 2],
];

function weightOf(file: string): number {
  return WEIGHTS.find(([pattern]) => pattern.test(file))?.[1] ?? 3;
}

class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const ordered = await super.sort(files);
    return ordered
      .map((spec, index) => ({ spec, index, weight: weightOf(spec.moduleId) }))
      .sort((a, b) => a.weight - b.weight || a.index - b.index)
      .map(({ spec }) => spec);
  }
}

/**
 * Tests that measure time-to-start or shares of capacity against a budget (the fair-scheduling
 * figures of issue 9): they run after everything else, one file at a time, so that another file's
 * load on the two cores never decides their outcome.
 */
const TIMED = ["apps/worker/test/fair-wait.int.test.ts"];

const SHARED = {
  // The SDK's package.json names its build (dist, what it publishes); tests read its sources.
  alias: { "@darkroom/sdk": fileURLToPath(new URL("./packages/sdk/src/index.ts", import.meta.url)) },
  // A hung test fails in 60 s: whole-system tests take up to ~20 s on an idle 2-core machine and
  // about twice that on a slower CI machine, where 30 s failed a test that was only slow. Tests that
  // legitimately run longer (chaos, deadlines, fuzz) say so with their own timeout.
  testTimeout: 60_000,
  hookTimeout: 60_000,
  // `expect.poll` waits until its assertion holds, then returns at once; Vitest's own 1 s limit was
  // too short for a browser's click, the API's answer and the page's redraw while every test file
  // shares the two cores (a dashboard test saw "Redeliver: done." arrive after it gave up).
  expect: { poll: { timeout: 10_000 } },
  pool: "forks",
} as const;

export default defineConfig({
  test: {
    globalSetup: ["./vitest.global-setup.ts"],
    ...SHARED,
    // Vitest reads the sequencer from the root config only: set on a project, it is ignored.
    sequence: { sequencer: SlowFirstSequencer },
    // The projects below do not extend this config (that would run the global setup once per
    // project): each repeats the few settings it needs.
    projects: [
      {
        test: {
          name: "parallel",
          ...SHARED,
          include: [
            "apps/*/src/**/*.test.ts",
            "apps/*/test/**/*.test.ts",
            "packages/*/src/**/*.test.ts",
            "scripts/**/*.test.ts",
          ],
          exclude: [...TIMED, "**/node_modules/**"],
          // Files run in parallel, each with its own database and queue prefix. Three on two cores:
          // most of a whole-system file's time is waiting on its processes (a run used ~1.25 cores at 2).
          maxWorkers: 3,
          // A fork runs file after file without a fresh module graph: the helpers, pg, ioredis,
          // undici, playwright and the simulator load once per fork instead of once per file
          // (Vitest's summed import time over a whole run: 151 s isolated, 20-31 s not). Every file
          // starts and stops what it uses (its database, queue prefix, processes), and no test
          // mutates a shared module or process.env, so nothing leaks from one file into the next.
          isolate: false,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: "timed",
          ...SHARED,
          include: TIMED,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
