import { findViolations, formatTable, runChaos, summarize } from "@darkroom/testing";
import { describe, expect, it } from "vitest";

// The short profile of `npm run chaos`, on a private Redis and PostgreSQL: worker kill -9 (twice),
// SIGTERM, FLUSHDB, Redis down past drainDelay, Postgres restart, the API killed between commit and
// enqueue, a flapping webhook receiver. Every accepted job must succeed exactly once, in time (no
// scenario expects a failure), every fault must have hit work in flight, and the receiver must have
// been sent every job's terminal event under one webhook-id and one body.
describe("chaos (short profile)", () => {
  // About 110-130 s on the shared 2-core machine; the bound leaves room for more load.
  it("loses nothing and duplicates nothing", { timeout: 240_000 }, async () => {
    const results = await runChaos("short");
    const table = formatTable(summarize(results));
    console.log(table);
    expect(results.map((r) => r.scenario)).toEqual([
      "kill -9 worker mid-stream #1",
      "kill -9 worker mid-stream #2",
      "SIGTERM worker mid-stream",
      "FLUSHDB",
      "Redis down 7 s (> drainDelay), then back",
      "Postgres restart",
      "API killed between commit and enqueue",
      "webhook receiver flapping",
    ]);
    // Faults aimed at running work report how much they found; the other two prove their hit otherwise.
    const notAimedAtRunning = results.filter((r) => r.inFlightAtFault === null).map((r) => r.scenario);
    expect(notAimedAtRunning).toEqual(["API killed between commit and enqueue", "webhook receiver flapping"]);
    expect(results.find((r) => r.scenario.startsWith("API killed"))?.jobs, table).toBe(2);
    expect(findViolations(results), table).toEqual([]);
  });
});
