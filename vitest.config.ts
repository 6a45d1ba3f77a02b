import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "apps/*/src/**/*.test.ts",
      "apps/*/test/**/*.test.ts",
      "packages/*/src/**/*.test.ts",
      "scripts/**/*.test.ts",
    ],
    globalSetup: ["./vitest.global-setup.ts"],
    // Whole-system tests wait for real jobs on a 2-core machine shared with Postgres, Redis and
    // several processes; they bound their own waits, this only stops a hung test.
    testTimeout: 90_000,
    hookTimeout: 60_000,
    // Two cores: files run in parallel, each with its own database and queue prefix.
    maxWorkers: 2,
    pool: "forks",
  },
});
