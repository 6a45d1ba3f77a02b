import { describe, expect, it } from "vitest";
import { isAhead } from "./event-hub";

describe("isAhead (live progress never goes back)", () => {
  it("orders by attempt, then stage, then percent", () => {
    const at = (attempt: number, stage: string, percent: number) => ({ attempt, stage, percent });
    expect(isAhead(at(1, "generating", 10), null)).toBe(true);
    expect(isAhead(at(1, "generating", 40), at(1, "generating", 30))).toBe(true);
    expect(isAhead(at(1, "generating", 30), at(1, "generating", 30))).toBe(false);
    expect(isAhead(at(1, "generating", 20), at(1, "generating", 30))).toBe(false);
    expect(isAhead(at(1, "storing", 0), at(1, "generating", 90))).toBe(true);
    expect(isAhead(at(1, "queuing_upstream", 99), at(1, "generating", 5))).toBe(false);
    expect(isAhead(at(2, "starting", 0), at(1, "storing", 95))).toBe(true);
    expect(isAhead(at(1, "storing", 95), at(2, "starting", 0))).toBe(false);
  });
});
