import { randomBytes, randomInt } from "node:crypto";
import { STACK_ADMIN_TOKEN, type Stack, startStack } from "@darkroom/testing";
import pg from "pg";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Receiver } from "./receiver";
import { client, uniquePrompt } from "./support";

let stack: Stack;
let receiver: Receiver;
let key: string;
let secret: string;
let api: ReturnType<typeof client>;
beforeAll(async () => {
  receiver = new Receiver();
  await receiver.start();
  stack = await startStack({
    label: "webhooks",
    simulatorStepMs: 5,
    env: {
      ALLOW_PRIVATE_WEBHOOK_URLS: "true",
      WEBHOOK_RETRY_SCHEDULE: "200ms,200ms,200ms,200ms",
      WEBHOOK_REDELIVERIES_PER_MINUTE: "3",
    },
  });
  const res = await fetch(`${stack.apiUrl}/admin/api/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${STACK_ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "hooks" }),
  });
  ({ api_key: key, webhook_secret: secret } = (await res.json()) as { api_key: string; webhook_secret: string });
  api = client(stack, key);
});
afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
});

const deliveries = async (jobId: string, apiKey = key) =>
  (
    (await (
      await fetch(`${stack.apiUrl}/v1/jobs/${jobId}/webhook-deliveries`, {
        headers: { authorization: `Bearer ${apiKey}` },
      })
    ).json()) as {
      data: {
        id: string;
        event_id: string;
        attempt: number;
        status: string;
        response_status: number | null;
        manual: boolean;
        error: string | null;
        next_attempt_at: string | null;
      }[];
    }
  ).data;
type Ledger = Awaited<ReturnType<typeof deliveries>>;

/**
 * Polls the job's ledger until `done` holds. The worker records an attempt only after the receiver
 * has answered, so what the receiver saw is not yet in the ledger.
 */
async function ledgerUntil(
  jobId: string,
  done: (ledger: Ledger) => boolean,
  timeoutMs = 10_000,
  apiKey = key,
): Promise<Ledger> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ledger = await deliveries(jobId, apiKey);
    if (done(ledger)) return ledger;
    if (Date.now() > deadline) {
      throw new Error(`ledger of ${jobId} never reached the expected state: ${JSON.stringify(ledger)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Every delivery schedule of the job has ended: a next attempt is created in the transaction that
 * records the failed one, so with no pending row nothing more will be sent.
 */
const settled = (ledger: Ledger) => ledger.length > 0 && ledger.every((d) => d.status !== "pending");

/** After the ledger says the schedule ended: time enough for a stray send to reach the receiver. */
const STRAY_SEND_MS = 300;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("signed webhooks with a delivery ledger", () => {
  it("a receiver that fails twice then succeeds gets three verified deliveries with one webhook-id, and no fourth", async () => {
    const url = receiver.script("/flaky", (i) => ({ status: i < 2 ? 500 : 204 }));
    const job = await api.create({ prompt: uniquePrompt(""), webhook_url: url });
    const got = await receiver.waitFor("/flaky", 3);
    const ledger = await ledgerUntil(job.id, settled);
    await pause(STRAY_SEND_MS);
    expect(receiver.of("/flaky")).toHaveLength(3);

    const wh = new Webhook(secret);
    for (const r of got) {
      const payload = wh.verify(r.body, r.headers as Record<string, string>) as {
        type: string;
        data: { id: string; status: string };
      };
      expect(payload.type).toBe("job.succeeded");
      expect(payload.data).toMatchObject({ id: job.id, status: "succeeded" });
    }
    expect(new Set(got.map((r) => r.headers["webhook-id"])).size).toBe(1);
    expect(new Set(got.map((r) => r.body)).size).toBe(1);
    expect(() => wh.verify(`${got[0]?.body} `, got[0]?.headers as Record<string, string>)).toThrow();

    expect(ledger.map((d) => [d.attempt, d.status, d.response_status])).toEqual([
      [1, "failed", 500],
      [2, "failed", 500],
      [3, "succeeded", 204],
    ]);
    expect(new Set(ledger.map((d) => d.event_id))).toEqual(new Set([got[0]?.headers["webhook-id"]]));

    // Redeliver: the same event once more, same id and body, recorded as a manual attempt.
    const again = await fetch(`${stack.apiUrl}/v1/webhook-deliveries/${ledger[2]?.id}/redeliver`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}` },
    });
    expect(again.status).toBe(202);
    const fourth = (await receiver.waitFor("/flaky", 4))[3];
    expect(fourth?.headers["webhook-id"]).toBe(got[0]?.headers["webhook-id"]);
    expect(fourth?.body).toBe(got[0]?.body);
    const after = await ledgerUntil(job.id, (l) => l.length === 4 && settled(l));
    expect(after.at(-1)).toMatchObject({ attempt: 4, status: "succeeded", manual: true });
  });

  it("delivers only the subscribed event types, in order", async () => {
    const url = receiver.script("/all", () => ({ status: 200 }));
    const job = await api.create({
      prompt: uniquePrompt("[[sim step_ms=30]]"),
      webhook_url: url,
      webhook_events: ["job.started", "job.succeeded"],
    });
    const got = await receiver.waitFor("/all", 2);
    // Outbox rows are written with their events, so once the job is terminal the ledger is complete.
    await api.waitTerminal(job.id);
    const ledger = await ledgerUntil(job.id, settled);
    expect(ledger.map((d) => d.status)).toEqual(["succeeded", "succeeded"]);
    await pause(STRAY_SEND_MS);
    const types = receiver.of("/all").map((r) => (JSON.parse(r.body) as { type: string }).type);
    expect(types).toEqual(["job.started", "job.succeeded"]);
    expect(got).toHaveLength(2);
  });

  it("honours Retry-After, stops on 410, and does not follow redirects", async () => {
    const slow = receiver.script("/later", (i) =>
      i === 0 ? { status: 503, headers: { "retry-after": "1" } } : { status: 200 },
    );
    await api.create({ prompt: uniquePrompt(""), webhook_url: slow });
    const [first, second] = await receiver.waitFor("/later", 2);
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(1000);

    const gone = receiver.script("/gone", () => ({ status: 410 }));
    const goneJob = await api.create({ prompt: uniquePrompt(""), webhook_url: gone });
    await receiver.waitFor("/gone", 1);
    const goneLedger = await ledgerUntil(goneJob.id, settled);
    expect(goneLedger.map((d) => [d.status, d.response_status, d.next_attempt_at])).toEqual([["failed", 410, null]]);
    await pause(STRAY_SEND_MS);
    expect(receiver.of("/gone")).toHaveLength(1);

    const target = receiver.script("/target", () => ({ status: 200 }));
    const moved = receiver.script("/moved", () => ({ status: 302, headers: { location: target } }));
    const movedJob = await api.create({ prompt: uniquePrompt(""), webhook_url: moved });
    await receiver.waitFor("/moved", 2);
    expect(receiver.of("/target")).toHaveLength(0);
    const ledger = await deliveries(movedJob.id);
    expect(ledger[0]).toMatchObject({ status: "failed", response_status: 302 });
  });

  it("a receiver that always fails gets 1 + len(WEBHOOK_RETRY_SCHEDULE) attempts, then the delivery ends failed", async () => {
    const url = receiver.script("/down", () => ({ status: 500 }));
    const job = await api.create({ prompt: uniquePrompt(""), webhook_url: url });
    // The stack's schedule is 200ms,200ms,200ms,200ms: one first attempt and four retries.
    const ledger = await ledgerUntil(job.id, settled);
    expect(ledger.map((d) => [d.attempt, d.status, d.response_status])).toEqual([
      [1, "failed", 500],
      [2, "failed", 500],
      [3, "failed", 500],
      [4, "failed", 500],
      [5, "failed", 500],
    ]);
    expect(ledger.at(-1)?.next_attempt_at).toBeNull();
    expect(ledger.slice(0, -1).every((d) => d.next_attempt_at !== null)).toBe(true);
    await pause(STRAY_SEND_MS);
    expect(receiver.of("/down")).toHaveLength(5);
    expect((await deliveries(job.id)).length).toBe(5);
  });

  it("lists deliveries only to the job's tenant", async () => {
    const url = receiver.script("/private", () => ({ status: 200 }));
    const job = await api.create({ prompt: uniquePrompt(""), webhook_url: url });
    await receiver.waitFor("/private", 1);
    const other = await stack.newApiKey("other");
    const res = await fetch(`${stack.apiUrl}/v1/jobs/${job.id}/webhook-deliveries`, {
      headers: { authorization: `Bearer ${other}` },
    });
    expect(res.status).toBe(404);
    const [delivery] = await ledgerUntil(job.id, settled);
    const redeliver = await fetch(`${stack.apiUrl}/v1/webhook-deliveries/${delivery?.id}/redeliver`, {
      method: "POST",
      headers: { authorization: `Bearer ${other}` },
    });
    expect(redeliver.status).toBe(404);
  });
});

describe("redelivery limits", () => {
  it("a tenant gets WEBHOOK_REDELIVERIES_PER_MINUTE redeliveries a minute, then 429 rate_limited with Retry-After; a pending one is not doubled", async () => {
    // The first attempt succeeds; every redelivery then hangs, so it stays pending while we ask again.
    const url = receiver.script("/redo", (i) => (i === 0 ? { status: 200 } : { status: 200, hang: true }));
    const redoKey = await stack.newApiKey("redo");
    const redo = client(stack, redoKey);
    const job = await redo.create({ prompt: uniquePrompt(""), webhook_url: url });
    const [first] = await ledgerUntil(job.id, settled, 10_000, redoKey);
    const ask = () => redo.post(`/v1/webhook-deliveries/${first?.id}/redeliver`);

    const one = await ask();
    expect(one.status).toBe(202);
    expect(one.headers.get("ratelimit-policy")).toContain('"redeliveries";q=3;w=60');
    expect(one.headers.get("ratelimit")).toMatch(/"redeliveries";r=2;t=\d+/);
    const pending = (await one.json()) as { id: string; status: string; manual: boolean; attempt: number };
    expect(pending).toMatchObject({ status: "pending", manual: true, attempt: 2 });
    await receiver.waitFor("/redo", 2);
    // Asked again while that one is still pending (its receiver has not answered): the same one.
    const two = await ask();
    expect(two.status).toBe(202);
    expect(((await two.json()) as { id: string }).id).toBe(pending.id);
    expect((await ask()).status).toBe(202);

    const refused = await ask();
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toContain("application/problem+json");
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.headers.get("ratelimit")).toMatch(/"redeliveries";r=0;t=\d+/);
    expect(await refused.json()).toMatchObject({
      code: "rate_limited",
      limit: { name: "webhook_redeliveries_per_minute", value: 3 },
    });
    // One pending redelivery came of the three accepted requests; nothing of the refused one.
    expect((await deliveries(job.id, redoKey)).map((d) => [d.attempt, d.manual, d.status])).toEqual([
      [1, false, "succeeded"],
      [2, true, "pending"],
    ]);
    expect(receiver.of("/redo")).toHaveLength(2);

    // The limit is the tenant's: another tenant still redelivers.
    const otherUrl = receiver.script("/redo-other", () => ({ status: 200 }));
    const otherKey = await stack.newApiKey("redo-other");
    const otherJob = await client(stack, otherKey).create({ prompt: uniquePrompt(""), webhook_url: otherUrl });
    const [otherFirst] = await ledgerUntil(otherJob.id, settled, 10_000, otherKey);
    const otherAsk = await client(stack, otherKey).post(`/v1/webhook-deliveries/${otherFirst?.id}/redeliver`);
    expect(otherAsk.status).toBe(202);
  });
});

describe("webhook bodies by reference", () => {
  it("every attempt and redelivery of a large event sends one body, stored once", async () => {
    const url = receiver.script("/big", () => ({ status: 500 }));
    // Over 100 KB that does not compress (random CJK text, 3 bytes a character, and random
    // base64), so that the sizes below are the bytes stored.
    const cjk = Array.from({ length: 31_000 }, () => String.fromCodePoint(0x4e00 + randomInt(0x5000))).join("");
    const job = await api.create({
      prompt: uniquePrompt(cjk),
      metadata: { blob: randomBytes(11 * 1024).toString("base64") },
      webhook_url: url,
      webhook_events: ["job.canceled"],
    });
    expect((await api.post(`/v1/jobs/${job.id}/cancel`)).status).toBe(200);
    // 1 + 4 scheduled attempts, then one redelivery: six attempts of one event.
    const ledger = await ledgerUntil(job.id, (l) => l.length === 5 && settled(l));
    const again = await api.post(`/v1/webhook-deliveries/${ledger[0]?.id}/redeliver`);
    expect(again.status).toBe(202);
    const got = await receiver.waitFor("/big", 6);
    await ledgerUntil(job.id, (l) => l.length === 6 && settled(l));
    const body = got[0]?.body ?? "";
    expect(Buffer.byteLength(body)).toBeGreaterThan(100_000);
    expect(new Set(got.map((r) => r.body))).toEqual(new Set([body]));

    const db = new pg.Client({ connectionString: stack.db.url });
    await db.connect();
    try {
      // The attempt rows hold no body: a few hundred bytes each, against 6 copies of it before.
      const rows = await db.query<{ n: number; bytes: number }>(
        `SELECT count(*)::int AS n, sum(pg_column_size(d.*))::int AS bytes FROM "WebhookDelivery" d WHERE "jobId" = $1`,
        [job.id],
      );
      expect(rows.rows[0]?.n).toBe(6);
      expect(rows.rows[0]?.bytes).toBeLessThan(6 * 1024);
      const stored = await db.query<{ n: number; body: string }>(
        `SELECT count(*) OVER ()::int AS n, b.body FROM "WebhookEventBody" b JOIN "JobEvent" e ON e.id = b."eventId"
         WHERE e."jobId" = $1`,
        [job.id],
      );
      expect(stored.rows.map((r) => [r.n, r.body])).toEqual([[1, body]]);
    } finally {
      await db.end();
    }
  });
});
