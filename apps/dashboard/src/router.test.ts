import { describe, expect, it } from "vitest";
import { parseRoute, routePath } from "./router";

describe("dashboard routes", () => {
  it("reads the view from the path and writes the same path back", () => {
    for (const route of [
      { view: "jobs" },
      { view: "tenants" },
      { view: "tenant", tenantId: "ten_01M8T01JZ6XANWG9W5EHS5PKMS" },
      { view: "job", jobId: "job_01M8T01JZ6XANWG9W5EHS5PKMS" },
    ] as const) {
      expect(parseRoute(routePath(route))).toEqual(route);
    }
    expect(parseRoute("/dashboard/tenants/")).toEqual({ view: "tenants" });
  });

  it("opens the jobs view for any path it does not know, and never throws on a bad escape", () => {
    expect(parseRoute("/dashboard/")).toEqual({ view: "jobs" });
    expect(parseRoute("/dashboard/nope")).toEqual({ view: "jobs" });
    expect(parseRoute("/dashboard/tenants/a/b")).toEqual({ view: "jobs" });
    expect(parseRoute("/dashboard/jobs/not-a-job-id")).toEqual({ view: "jobs" });
    expect(parseRoute("/dashboard/jobs/job_01M8T01JZ6XANWG9W5EHS5PKMS/x")).toEqual({ view: "jobs" });
    expect(parseRoute("/elsewhere/tenants")).toEqual({ view: "jobs" });
    expect(parseRoute("/dashboard/tenants/%E0%A4%A")).toEqual({ view: "tenants" });
    expect(routePath({ view: "tenant", tenantId: "a/b?c" })).toBe("/dashboard/tenants/a%2Fb%3Fc");
  });
});
