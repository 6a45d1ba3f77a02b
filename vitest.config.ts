import { defineConfig } from "vitest/config";
import { SlowFirstSequencer } from "./vitest.sequencer";

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
