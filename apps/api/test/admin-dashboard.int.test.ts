import { readSse } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, type ApiHarness, startApiHarness } from "./harness";

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness("admindash");
});
afterAll(() => h.close());

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe("admin API for the dashboard", () => {
  it("requires the admin token", async () => {
    for (const path of ["/admin/api/overview", "/admin/api/jobs", "/admin/api/stream"]) {
      expect((await h.request("GET", path)).status).toBe(401);
      expect((await h.request("GET", path, { headers: { authorization: "Bearer nope" } })).status).toBe(401);
    }
  });

  it("shows every tenant's jobs with the tenant's name, counts them, and streams new events live", async () => {
    // Without Last-Event-ID the stream starts after the newest event at connect time, and sends
    // `retry:` only once that point is fixed: jobs created before it would be skipped.
    let established: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => {
      established = resolve;
    });
    const stream = readSse(`${h.url}/admin/api/stream`, {
      headers: admin,
      stop: (_e, all) => all.filter((e) => e.event === "job.queued").length >= 2,
      onRetry: () => established(),
      timeoutMs: 10_000,
    });
    await Promise.race([ready, stream]);
    const a = await h.newTenant("Acme");
    const b = await h.newTenant("Globex");
    const ja = (await (await h.request("POST", "/v1/jobs", { key: a.apiKey, body: { prompt: "a" } })).json()) as {
      id: string;
    };
    const jb = (await (await h.request("POST", "/v1/jobs", { key: b.apiKey, body: { prompt: "b" } })).json()) as {
      id: string;
    };

    const live = await stream;
    const queued = live.events
      .filter((e) => e.event === "job.queued")
      .map((e) => JSON.parse(e.data) as { job_id: string; tenant_id: string });
    expect(queued.map((e) => e.job_id)).toEqual([ja.id, jb.id]);
    expect(queued[0]?.tenant_id).toBe(a.tenantId);

    const list = (await (await h.request("GET", "/admin/api/jobs?limit=10", { headers: admin })).json()) as {
      data: { id: string; tenant_name: string; status: string; progress: { queue_position: number | null } }[];
    };
    expect(list.data.map((j) => [j.id, j.tenant_name])).toEqual([
      [jb.id, "Globex"],
      [ja.id, "Acme"],
    ]);
    // The list stays cheap: no queue positions (one job's detail has them, below).
    expect(list.data.map((j) => j.progress.queue_position)).toEqual([null, null]);
    const overview = (await (await h.request("GET", "/admin/api/overview", { headers: admin })).json()) as {
      jobs: Record<string, number>;
      last_hour: { created: number };
      queue: { waiting: number } | null;
      admission: { queued: number; capacity: number } | null;
    };
    expect(overview.jobs.queued).toBe(2);
    expect(overview.last_hour.created).toBe(2);
    // No worker runs here: both wait in their tenants' intakes.
    expect(overview.admission?.queued).toBe(2);
    expect(overview.admission?.capacity).toBe(0);

    const detail = (await (await h.request("GET", `/admin/api/jobs/${ja.id}`, { headers: admin })).json()) as {
      job: { id: string; tenant_name: string; progress: { queue_position: number | null } };
      events: { type: string }[];
    };
    expect(detail.job.tenant_name).toBe("Acme");
    // Like GET /v1/jobs/{id}: the next of its tenant to start.
    expect(detail.job.progress.queue_position).toBe(1);
    expect(detail.events.map((e) => e.type)).toEqual(["job.queued"]);
    expect((await h.request("GET", "/admin/api/jobs?status=done", { headers: admin })).status).toBe(400);
  });
});
