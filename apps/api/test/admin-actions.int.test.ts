import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, type ApiHarness, startApiHarness } from "./harness";

/**
 * An operator's cancel, retry and redelivery of any tenant's job (no worker runs: the outcome is
 * in the database and the events), each recorded with who asked, and the tenant's own the same.
 */

let h: ApiHarness;
let tenant: { apiKey: string; tenantId: string };
beforeAll(async () => {
  h = await startApiHarness("adminact", { WEBHOOK_REDELIVERIES_PER_MINUTE: "1" });
  tenant = await h.newTenant("Acme");
});
afterAll(() => h.close());

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const post = (path: string) => h.request("POST", path, { headers: admin });
const create = async () =>
  (await (
    await h.request("POST", "/v1/jobs", {
      key: tenant.apiKey,
      body: { prompt: "a lighthouse", webhook_url: "https://example.com/hook" },
    })
  ).json()) as { id: string };
const events = async (id: string) =>
  (await (await h.request("GET", `/admin/api/jobs/${id}`, { headers: admin })).json()) as {
    events: { type: string; data: Record<string, unknown> }[];
    deliveries: { id: string }[];
  };

describe("an operator's actions", () => {
  it("cancels and retries any tenant's job, recording actor admin; the tenant's own say client", async () => {
    const job = await create();
    const canceled = await post(`/admin/api/jobs/${job.id}/cancel`);
    expect(canceled.status).toBe(200);
    expect(await canceled.json()).toMatchObject({ id: job.id, status: "canceled", tenant_name: "Acme" });
    // Twice: the job is terminal now.
    const again = await post(`/admin/api/jobs/${job.id}/cancel`);
    expect(again.status).toBe(409);
    expect(((await again.json()) as { detail: string }).detail).toMatch(/already canceled/);

    const retried = await post(`/admin/api/jobs/${job.id}/retry`);
    expect(retried.status).toBe(202);
    expect(await retried.json()).toMatchObject({ id: job.id, status: "queued" });
    expect((await post(`/admin/api/jobs/${job.id}/retry`)).status).toBe(409);

    // The tenant cancels it this time.
    expect((await h.request("POST", `/v1/jobs/${job.id}/cancel`, { key: tenant.apiKey })).status).toBe(200);
    const log = (await events(job.id)).events.filter((e) => e.type !== "job.progress");
    expect(log.map((e) => [e.type, e.data.actor ?? null])).toEqual([
      ["job.queued", null],
      ["job.canceled", "admin"],
      ["job.queued", "admin"],
      ["job.canceled", "client"],
    ]);
  });

  it("redelivers any tenant's webhook, recording it in the job's events, outside the tenant's limit", async () => {
    const job = await create();
    expect((await post(`/admin/api/jobs/${job.id}/cancel`)).status).toBe(200);
    const [delivery] = (await events(job.id)).deliveries;
    expect(delivery).toBeDefined();
    // The tenant's limit is 1 a minute: its own redelivery uses it up...
    expect(
      (await h.request("POST", `/v1/webhook-deliveries/${delivery?.id}/redeliver`, { key: tenant.apiKey })).status,
    ).toBe(202);
    // ...the operator's do not count against it (the pending one is answered again, not duplicated).
    for (let i = 0; i < 2; i++) {
      expect((await post(`/admin/api/webhook-deliveries/${delivery?.id}/redeliver`)).status).toBe(202);
    }
    const redelivered = (await events(job.id)).events.filter((e) => e.type === "job.webhook_redelivered");
    expect(redelivered.map((e) => e.data.actor)).toEqual(["client"]);
    expect(redelivered[0]?.data).toMatchObject({
      event_id: expect.stringMatching(/^evt_/),
      delivery_id: expect.stringMatching(/^whd_/),
    });
  });

  it("answers 404 for what does not exist, and 401 without the admin token", async () => {
    for (const path of [
      "/admin/api/jobs/job_00000000000000000000000000/cancel",
      "/admin/api/jobs/nope/retry",
      "/admin/api/webhook-deliveries/whd_00000000000000000000000000/redeliver",
      "/admin/api/webhook-deliveries/nope/redeliver",
    ]) {
      const res = await post(path);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { code: string }).code).toBe("not_found");
      expect((await h.request("POST", path)).status).toBe(401);
    }
  });
});
