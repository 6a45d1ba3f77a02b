import { describe, expect, it } from "vitest";
import { changedSettings, settingsFormOf, settingValue } from "./tenant-settings";
import type { Tenant } from "./types";

const tenant: Tenant = {
  id: "ten_01M8T01JZ6XANWG9W5EHS5PKMS",
  name: "Globex",
  created_at: "2026-01-01T00:00:00.000Z",
  max_concurrency: 4,
  weight: 1,
  rate_limit_per_minute: 600,
  images_per_day: null,
  monthly_budget_usd: 12.5,
  previous_webhook_secret_valid_until: null,
};

describe("tenant settings form", () => {
  it("sends a plain decimal as a number, empty as null, and anything else as typed for the API to judge", () => {
    expect(settingValue(" 12 ")).toBe(12);
    expect(settingValue("12.5")).toBe(12.5);
    expect(settingValue("-1")).toBe(-1);
    expect(settingValue("")).toBeNull();
    expect(settingValue("  ")).toBeNull();
    expect(settingValue("0x10")).toBe("0x10");
    expect(settingValue("1e3")).toBe("1e3");
    expect(settingValue("ten")).toBe("ten");
  });

  it("patches only the fields that differ from the tenant", () => {
    const form = settingsFormOf(tenant);
    expect(changedSettings(tenant, form)).toEqual({});
    expect(changedSettings(tenant, { ...form, monthly_budget_usd: "12.50" })).toEqual({});
    expect(changedSettings(tenant, { ...form, weight: "3", max_concurrency: "" })).toEqual({
      weight: 3,
      max_concurrency: null,
    });
    expect(changedSettings(tenant, { ...form, name: "Initech", images_per_day: "abc" })).toEqual({
      name: "Initech",
      images_per_day: "abc",
    });
  });
});
