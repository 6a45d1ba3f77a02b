import { describe, expect, it } from "vitest";
import { isId, newId } from "./ids";
import { assertTransition, canTransition, isTerminal } from "./job-state";

describe("job state machine", () => {
  it("allows the documented transitions only", () => {
    expect(canTransition("queued", "running")).toBe(true);
    expect(canTransition("running", "queued")).toBe(true);
    expect(canTransition("running", "succeeded")).toBe(true);
    expect(canTransition("failed", "queued")).toBe(true);
    expect(canTransition("succeeded", "queued")).toBe(false);
    expect(canTransition("succeeded", "failed")).toBe(false);
    expect(() => assertTransition("canceled", "running")).toThrow(/A canceled job cannot become running/);
    expect(["succeeded", "failed", "canceled"].every((s) => isTerminal(s as "failed"))).toBe(true);
    expect(isTerminal("running")).toBe(false);
  });

  it("makes prefixed ids that sort by creation time", () => {
    const a = newId("job", 1_700_000_000_000);
    const b = newId("job", 1_700_000_000_001);
    expect(isId("job", a)).toBe(true);
    expect(isId("evt", a)).toBe(false);
    expect(a < b).toBe(true);
  });
});
