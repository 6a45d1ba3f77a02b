import { describe, expect, it } from "vitest";
import { isId, newId } from "./ids";
import { isTerminal, JOB_STATUSES } from "./job-state";

describe("job states and ids", () => {
  it("calls succeeded, failed and canceled terminal, queued and running not", () => {
    expect(JOB_STATUSES.filter(isTerminal)).toEqual(["succeeded", "failed", "canceled"]);
  });

  it("makes prefixed ids that sort by creation time", () => {
    const a = newId("job", 1_700_000_000_000);
    const b = newId("job", 1_700_000_000_001);
    expect(isId("job", a)).toBe(true);
    expect(isId("evt", a)).toBe(false);
    expect(a < b).toBe(true);
  });
});
