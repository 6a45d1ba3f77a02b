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

export default defineConfig({
  test: {
    include: [
      "apps/*/src/**/*.test.ts",
      "apps/*/test/**/*.test.ts",
      "packages/*/src/**/*.test.ts",
      "scripts/**/*.test.ts",
    ],
    globalSetup: ["./vitest.global-setup.ts"],
    // A hung test fails in 30 s. Tests that legitimately run longer (chaos, deadlines, fuzz) say
    // so with their own timeout.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: files run in parallel, each with its own database and queue prefix.
    maxWorkers: 2,
    pool: "forks",
    sequence: { sequencer: SlowFirstSequencer },
  },
});
