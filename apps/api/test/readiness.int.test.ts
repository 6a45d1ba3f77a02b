import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, startApiHarness } from "./harness";

// No worker runs beside this API: a job that waits is exactly what stopped workers look like.
let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness("ready", { READY_STALL_SECONDS: "5" });
});
afterAll(() => h.close());

const readiness = async () => {
  const res = await h.request("GET", "/readyz");
  return { status: res.status, body: (await res.json()) as { status: string; checks: Record<string, string> } };
};

describe("/readyz", () => {
  it("is ready with Postgres and Redis reachable and nothing waiting", async () => {
    const { status, body } = await readiness();
    expect(body).toEqual({
      status: "ready",
      checks: {
        postgres: "ok",
        redis: "ok",
        workers: "ok",
        upstream_quota: "not checked (the guard is off, or no worker has checked yet)",
      },
    });
    expect(status).toBe(200);
  });

  it("fails when jobs wait longer than READY_STALL_SECONDS and no attempt started (workers stopped)", {
    timeout: 20_000,
  }, async () => {
    const { apiKey } = await h.newTenant();
    expect((await h.request("POST", "/v1/jobs", { key: apiKey, body: { prompt: "nobody takes me" } })).status).toBe(
      202,
    );
    expect((await readiness()).status).toBe(200);
    await new Promise((r) => setTimeout(r, 5_500));
    const { status, body } = await readiness();
    expect(status).toBe(503);
    expect(body.checks.workers).toMatch(/^unavailable: 1 job\(s\) waiting over 5 s/);
    expect(body.checks.postgres).toBe("ok");
  });
});
