import { formatTable, runChaos, summarize } from "@darkroom/testing";
import { describe, expect, it } from "vitest";

// The short profile of `npm run chaos`, on a private Redis and PostgreSQL: worker kill -9 (twice),
// SIGTERM, FLUSHDB, Redis down past drainDelay, Postgres restart, the API killed between commit and
// enqueue, a flapping webhook receiver. Every accepted job must end exactly once, in time.
describe("chaos (short profile)", () => {
  it("loses nothing and duplicates nothing", { timeout: 600_000 }, async () => {
    const results = await runChaos("short");
    const table = formatTable(summarize(results));
    expect(results.length).toBeGreaterThanOrEqual(8);
    for (const result of results) {
      expect(result.jobs, `${result.scenario} accepted no job\n${table}`).toBeGreaterThan(0);
      expect({ scenario: result.scenario, lost: result.lost, duplicated: result.duplicated }, table).toEqual({
        scenario: result.scenario,
        lost: 0,
        duplicated: 0,
      });
      expect(result.succeeded + result.failed, table).toBe(result.jobs);
    }
  });
});
