import { type Stack, startStack } from "@darkroom/testing";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Receiver } from "./receiver";
import { client, uniquePrompt } from "./support";

/** Counts rows with one query against the stack's database. */
async function count(stack: Stack, sql: string, params: unknown[]): Promise<number> {
  const db = new pg.Client({ connectionString: stack.db.url });
  await db.connect();
  try {
    return Number((await db.query<{ n: string }>(sql, params)).rows[0]?.n ?? 0);
  } finally {
    await db.end();
  }
}

/**
 * Jobs canceled as soon as they are created: each has its `job.canceled` webhook due at once, so
 * hundreds of them make a webhook backlog in seconds, whatever the upstream does. Twenty at a time.
 */
async function canceledJobs(api: ReturnType<typeof client>, n: number, webhookUrl: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 20) {
    const batch = Array.from({ length: Math.min(20, n - i) }, async () => {
      const job = await api.create({ prompt: uniquePrompt("[[sim step_ms=200]]"), webhook_url: webhookUrl });
      const res = await api.post(`/v1/jobs/${job.id}/cancel`);
      if (res.status !== 200) throw new Error(`cancel answered ${res.status}: ${await res.text()}`);
      return job.id;
    });
    ids.push(...(await Promise.all(batch)));
  }
  return ids;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The job's delivery ledger as the API lists it: [attempt, status] per row. */
async function ledger(stack: Stack, key: string, jobId: string): Promise<[number, string][]> {
  const res = await fetch(`${stack.apiUrl}/v1/jobs/${jobId}/webhook-deliveries`, {
    headers: { authorization: `Bearer ${key}` },
  });
  const { data } = (await res.json()) as { data: { attempt: number; status: string }[] };
  return data.map((d) => [d.attempt, d.status]);
}

/**
 * A stack of its own and a receiver for the tests of one `describe`, with private webhook URLs
 * allowed; `env` adds to the stack's environment.
 */
function stackWithReceiver(label: string, env: Record<string, string>, workers = 1) {
  const ctx = {} as { stack: Stack; receiver: Receiver };
  beforeAll(async () => {
    ctx.receiver = new Receiver();
    await ctx.receiver.start();
    ctx.stack = await startStack({
      label,
      workers,
      simulatorStepMs: 2,
      env: { ALLOW_PRIVATE_WEBHOOK_URLS: "true", ...env },
    });
  });
  afterAll(async () => {
    await ctx.stack?.stop();
    await ctx.receiver?.close();
  });
  return ctx;
}

describe("a receiver that never answers does not hold up other tenants' webhooks", () => {
  // The default in-flight caps (5 per receiver, 10 per tenant) and webhook concurrency (20); a 3 s
  // timeout instead of 10 s keeps the test short, and shows the same thing.
  const ctx = stackWithReceiver("hook-fair", {
    WEBHOOK_TIMEOUT_MS: "3000",
    WEBHOOK_RETRY_SCHEDULE: "1s,1s",
    WORKER_CONCURRENCY: "20",
  });

  it("tenant A's 200 pending deliveries to a dead receiver: tenant B's webhooks still arrive within 2 s", {
    timeout: 60_000,
  }, async () => {
    const { stack, receiver } = ctx;
    const hang = receiver.script("/a-dead", () => ({ status: 200, hang: true }));
    const ok = receiver.script("/b-fine", () => ({ status: 204 }));
    const aKey = await stack.newApiKey("a");
    const bKey = await stack.newApiKey("b");
    const a = client(stack, aKey);
    const b = client(stack, bKey);
    const aJobs = await canceledJobs(a, 200, hang);
    // Each of A's jobs has its job.canceled delivery pending at the dead receiver, which holds
    // requests open.
    await until(
      "A's 200 deliveries pending",
      async () =>
        (await count(
          stack,
          `SELECT count(*) AS n FROM "WebhookDelivery" WHERE "jobId" = ANY($1) AND status = 'pending'`,
          [aJobs],
        )) === 200,
      30_000,
    );
    await receiver.waitFor("/a-dead", 5);

    const bJobs = await canceledJobs(b, 5, ok);
    const got = await receiver.waitFor("/b-fine", 5, 15_000);
    // From each of B's jobs ending (its event, hence its delivery, committed) to its webhook arriving.
    const waits = await Promise.all(
      bJobs.map(async (id) => {
        const ended = Date.parse((await b.get(id)).finished_at ?? "");
        const arrived = got.find((r) => (JSON.parse(r.body) as { data: { id: string } }).data.id === id)?.at;
        return (arrived ?? Number.POSITIVE_INFINITY) - ended;
      }),
    );
    expect(Math.max(...waits)).toBeLessThan(2_000);
    // A's dead receiver was never sent more than its cap at once, over all that time.
    expect(receiver.maxInFlight("/a-dead")).toBe(5);
  });
});

describe("in-flight caps hold across worker processes, and deferred deliveries keep their schedule", () => {
  const ctx = stackWithReceiver(
    "hook-cap",
    { WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT: "2", WEBHOOK_RETRY_SCHEDULE: "100ms,100ms" },
    2,
  );

  it("two workers never send more than WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT at once; every delivery gets exactly its 3 attempts", {
    timeout: 60_000,
  }, async () => {
    const { stack, receiver } = ctx;
    // A slow receiver that always fails: every event is attempted 1 + len(schedule) = 3 times.
    const slow = receiver.script("/slow", () => ({ status: 500, delayMs: 150 }));
    const key = await stack.newApiKey("capped");
    const api = client(stack, key);
    const ids = await canceledJobs(api, 12, slow);

    await until(
      "every schedule ended",
      async () =>
        (await count(
          stack,
          `SELECT count(*) AS n FROM "WebhookDelivery" WHERE "jobId" = ANY($1) AND status <> 'pending'`,
          [ids],
        )) === 36 &&
        (await count(stack, `SELECT count(*) AS n FROM "WebhookDelivery" WHERE "jobId" = ANY($1)`, [ids])) === 36,
      40_000,
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.maxInFlight("/slow")).toBe(2);
    // A freed slot wakes the next parked delivery at once: 36 attempts of 150 ms, two at a time,
    // take about 3 s, where parked deliveries left to their own timers (a lease, 15 s) would take minutes.
    const times = receiver.of("/slow").map((r) => r.at);
    expect(Math.max(...times) - Math.min(...times)).toBeLessThan(10_000);
    const perEvent = new Map<string, number>();
    for (const r of receiver.of("/slow")) {
      const id = String(r.headers["webhook-id"]);
      perEvent.set(id, (perEvent.get(id) ?? 0) + 1);
    }
    expect(perEvent.size).toBe(12);
    expect([...perEvent.values()].every((n) => n === 3)).toBe(true);
    // Waiting for a slot used up no attempt: each ledger is the plain schedule.
    for (const id of ids) {
      expect(await ledger(stack, key, id)).toEqual([
        [1, "failed"],
        [2, "failed"],
        [3, "failed"],
      ]);
    }
    // Both processes sent attempts: the cap is shared, not per process.
    const sentBy = stack.workers.map((w) => w.output().split('"msg":"webhook delivery attempt"').length - 1);
    expect(sentBy.every((n) => n > 0)).toBe(true);
    expect(sentBy.reduce((x, y) => x + y)).toBe(36);
  });
});

describe("the slots of a worker killed mid-attempt come back", () => {
  // A 4 s timeout (the worker is killed well within it) makes a slot's lease 9 s (timeout + 5 s).
  const ctx = stackWithReceiver("hook-crash", { WEBHOOK_TIMEOUT_MS: "4000", WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT: "1" });

  it("kill -9 while holding the receiver's only slot: the deliveries waiting for it arrive once its lease ends", {
    timeout: 60_000,
  }, async () => {
    const { stack, receiver } = ctx;
    // The first request is never answered, so the worker is inside the attempt when it dies.
    const url = receiver.script("/crash", (i) => (i === 0 ? { status: 200, hang: true } : { status: 204 }));
    const api = client(stack, await stack.newApiKey("crash"));
    const ids = await canceledJobs(api, 4, url);
    // One delivery is inside its attempt, holding the receiver's only slot; the other three are parked.
    await receiver.waitFor("/crash", 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.of("/crash")).toHaveLength(1);
    const hungId = (JSON.parse(receiver.of("/crash")[0]?.body ?? "{}") as { data: { id: string } }).data.id;
    const [dead] = stack.workers;
    dead?.child.kill("SIGKILL");
    await new Promise((r) => dead?.child.once("exit", r));
    const killedAt = Date.now();
    await stack.addWorker();
    // Never released, the slot frees when its lease ends (9 s after it was taken); the parked
    // deliveries retry on their own timers by then (their wake-up died with the worker).
    const got = await receiver.waitFor("/crash", 4, 25_000);
    const sent = new Set(got.slice(1).map((r) => (JSON.parse(r.body) as { data: { id: string } }).data.id));
    expect(sent).toEqual(new Set(ids.filter((id) => id !== hungId)));
    expect(Date.now() - killedAt).toBeLessThan(20_000);
  });
});
