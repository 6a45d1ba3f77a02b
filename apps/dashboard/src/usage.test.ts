import { describe, expect, it } from "vitest";
import { limitShares } from "./usage";

describe("limitShares", () => {
  it("splits the bar into used and reserved, in percent of the limit", () => {
    expect(limitShares({ limit: 10, used: 3, reserved: 2 })).toEqual({ used: 30, reserved: 20 });
    expect(limitShares({ limit: 10, used: 0, reserved: 0 })).toEqual({ used: 0, reserved: 0 });
  });

  it("never passes a full bar, used first", () => {
    expect(limitShares({ limit: 10, used: 8, reserved: 5 })).toEqual({ used: 80, reserved: 20 });
    expect(limitShares({ limit: 10, used: 15, reserved: 5 })).toEqual({ used: 100, reserved: 0 });
  });

  it("shows a limit of 0 with anything taken as full", () => {
    expect(limitShares({ limit: 0, used: 1, reserved: 0 })).toEqual({ used: 100, reserved: 0 });
    expect(limitShares({ limit: 0, used: 0, reserved: 2 })).toEqual({ used: 0, reserved: 100 });
    expect(limitShares({ limit: 0, used: 0, reserved: 0 })).toEqual({ used: 0, reserved: 0 });
  });
});
