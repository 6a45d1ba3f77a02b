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

describe("bulk actions", () => {
  type Bulk = {
    id: string;
    status: string;
    total: number;
    processed: number;
    succeeded: number;
    skipped: number;
    failed: number;
  };
  const bulk = async (body: unknown, headers: Record<string, string> = {}) =>
    h.request("POST", "/admin/api/jobs/bulk", { headers: { ...admin, ...headers }, body });
  const finished = async (id: string): Promise<Bulk> => {
    for (let i = 0; i < 200; i++) {
      const op = (await (await h.request("GET", `/admin/api/jobs/bulk/${id}`, { headers: admin })).json()) as Bulk;
      if (op.status !== "running") return op;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`bulk ${id} still running`);
  };

  it("cancels then retries every matching job in batches, once, safe to run twice", async () => {
    const word = `bulk${Date.now().toString(36)}`;
    for (let i = 0; i < 150; i++) {
      const res = await h.request("POST", "/v1/jobs", { key: tenant.apiKey, body: { prompt: `${word} number ${i}` } });
      expect(res.status).toBe(202);
    }
    const cancel = await bulk({ action: "cancel", filter: { q: word } });
    expect(cancel.status).toBe(202);
    const canceled = await finished(((await cancel.json()) as Bulk).id);
    expect(canceled).toMatchObject({
      status: "succeeded",
      total: 150,
      processed: 150,
      succeeded: 150,
      skipped: 0,
      failed: 0,
    });

    const filter = { q: word, status: ["canceled"] };
    const first = await bulk({ action: "retry", filter, expected_count: 150 }, { "idempotency-key": `retry-${word}` });
    expect(first.status).toBe(202);
    const retried = await finished(((await first.json()) as Bulk).id);
    expect(retried).toMatchObject({ status: "succeeded", total: 150, succeeded: 150 });
    const count = async (q: string) =>
      ((await (await h.request("GET", `/admin/api/jobs/count?${q}`, { headers: admin })).json()) as { count: number })
        .count;
    expect(await count(`q=${word}&status=queued`)).toBe(150);

    // The same key answers the same operation; running the filter again finds nothing to do.
    const replay = await bulk({ action: "retry", filter, expected_count: 150 }, { "idempotency-key": `retry-${word}` });
    expect(replay.status).toBe(200);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(((await replay.json()) as Bulk).id).toBe(retried.id);
    const again = await bulk({ action: "retry", filter });
    expect(await finished(((await again.json()) as Bulk).id)).toMatchObject({
      status: "succeeded",
      total: 0,
      succeeded: 0,
    });
    // Every job was retried exactly once, by the operator.
    const one = (
      (await (await h.request("GET", `/admin/api/jobs?q=${word}&limit=1`, { headers: admin })).json()) as {
        data: { id: string }[];
      }
    ).data[0];
    const retries = (await events(one?.id ?? "")).events.filter(
      (e) => e.type === "job.queued" && e.data.retry === true,
    );
    expect(retries.map((e) => e.data.actor)).toEqual(["admin"]);
  }, 60_000);

  it("refuses an empty filter without the confirmed count, and a count that changed", async () => {
    const empty = await bulk({ action: "cancel", filter: {} });
    expect(empty.status).toBe(400);
    expect(JSON.stringify(await empty.json())).toContain("expected_count");
    const stale = await bulk({ action: "cancel", filter: {}, expected_count: 1 });
    expect(stale.status).toBe(409);
    expect(((await stale.json()) as { detail: string }).detail).toMatch(/matches \d+ jobs now, not the 1 confirmed/);
    expect((await bulk({ action: "delete", filter: { q: "x" } })).status).toBe(400);
    expect((await bulk({ action: "retry", filter: { status: "bogus" } })).status).toBe(400);
    // The same Idempotency-Key rule as job creation: 1 to 255 visible ASCII characters.
    const badKey = await bulk({ action: "cancel", filter: { q: "x" } }, { "idempotency-key": "a b" });
    expect(badKey.status).toBe(400);
    expect(await badKey.json()).toMatchObject({
      code: "validation_failed",
      errors: [{ path: "Idempotency-Key", message: "must be 1 to 255 visible ASCII characters" }],
    });
    expect(
      (await h.request("GET", "/admin/api/jobs/bulk/bulk_00000000000000000000000000", { headers: admin })).status,
    ).toBe(404);
  });

  it("is taken over by another API process when the one running it stopped reporting", async () => {
    const word = `orphan${Date.now().toString(36)}`;
    for (let i = 0; i < 3; i++) {
      await h.request("POST", "/v1/jobs", { key: tenant.apiKey, body: { prompt: `${word} ${i}` } });
    }
    // An operation a dead process left running: its heartbeat is old.
    const pg = await import("pg");
    const sql = new pg.default.Pool({ connectionString: h.databaseUrl, max: 1 });
    const newest = (await sql.query<{ id: string }>(`SELECT max(id) AS id FROM "Job"`)).rows[0]?.id;
    await sql.query(
      `INSERT INTO "BulkOperation" (id, action, filter, total, "upToId", owner, "heartbeatAt")
       VALUES ('bulk_00000000000000000000001RPH', 'cancel', $1, 3, $2, 'dead', now() - interval '1 hour')`,
      [JSON.stringify({ q: word }), newest],
    );
    await sql.end();
    await h.addApi();
    const op = await finished("bulk_00000000000000000000001RPH");
    expect(op).toMatchObject({ status: "succeeded", succeeded: 3 });
  }, 60_000);
});
