import { createHash } from "node:crypto";
import { monitorRedis, type PrivateRedis, type Stack, startPrivateRedis, startStack } from "@darkroom/testing";
import { moveToActive } from "bullmq/dist/esm/scripts/moveToActive-11.js";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, uniquePrompt, upstreamCalls } from "./support";

/** Runs one query against the stack's database. */
async function query<T>(stack: Stack, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: stack.db.url });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

/** How many of the jobs `ids` are in one of `statuses`. */
async function countIn(stack: Stack, ids: string[], statuses: string[]): Promise<number> {
  const [row] = await query<{ n: number }>(
    stack,
    `SELECT count(*)::int AS n FROM "Job" WHERE id = ANY($1) AND status::text = ANY($2)`,
    [ids, statuses],
  );
  return row?.n ?? 0;
}

async function until(what: string, condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// One worker; leases of 3 s (renewed every second) so that a renewal is seen within a stream.
describe("one worker holding many streams", () => {
  let stack: Stack;
  let api: ReturnType<typeof client>;
  beforeAll(async () => {
    stack = await startStack({ label: "capacity", env: { WORKER_CONCURRENCY: "60", JOB_LEASE_MS: "3000" } });
    api = client(stack, await stack.newApiKey());
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("reuses one keep-alive upstream connection across sequential jobs", async () => {
    const prompts = [uniquePrompt(""), uniquePrompt(""), uniquePrompt("")];
    for (const prompt of prompts) {
      const created = await api.create({ prompt });
      expect((await api.waitTerminal(created.id)).status).toBe("succeeded");
    }
    const connections = prompts.map((p) => upstreamCalls(stack, p).map((c) => c.connection));
    expect(connections.flat()).toHaveLength(3);
    expect(new Set(connections.flat()).size).toBe(1);
  });

  it("writes the progress of all jobs in flight in one statement per tick, and renews all leases in one", async () => {
    const n = 40;
    const created = await Promise.all(
      Array.from({ length: n }, () => api.create({ prompt: uniquePrompt("[[sim step_ms=60]]") })),
    );
    const ids = created.map((j) => j.id);
    await until("all jobs running", async () => (await countIn(stack, ids, ["running"])) === n, 20_000);
    // Past one lease tick (every JOB_LEASE_MS / 3) after the last claim: one statement renewed
    // every lease, so they all expire at the same database time.
    await new Promise((r) => setTimeout(r, 1_400));
    const leases = await query<{ lease: Date }>(
      stack,
      `SELECT DISTINCT "leaseExpiresAt" AS lease FROM "Job" WHERE id = ANY($1) AND status = 'running'`,
      [ids],
    );
    expect(leases).toHaveLength(1);

    for (const id of ids) expect((await api.waitTerminal(id, 30_000)).status).toBe("succeeded");
    // Each transaction has its own xid (xmin of the rows it inserted): one per progress batch.
    const [stats] = await query<{ events: number; xacts: number; span_ms: number }>(
      stack,
      `SELECT count(*)::int AS events, count(DISTINCT xmin::text)::int AS xacts,
         (extract(epoch FROM max("createdAt") - min("createdAt")) * 1000)::int AS span_ms
       FROM "JobEvent" WHERE "jobId" = ANY($1) AND type = 'job.progress'`,
      [ids],
    );
    if (stats === undefined) throw new Error("no stats");
    expect(stats.events).toBeGreaterThan(n * 3);
    expect(stats.xacts).toBeLessThanOrEqual(Math.ceil(stats.span_ms / 250) + 2);
  });
});

describe("a backlog on two workers at WORKER_CONCURRENCY=1000 with a small pool", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      label: "capacity-pool",
      workers: 0,
      simulatorStepMs: 1,
      env: { WORKER_CONCURRENCY: "1000", DATABASE_POOL_SIZE: "2" },
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("ends with every job succeeded: contention slows work down, never fails it", async () => {
    const api = client(stack, await stack.newApiKey());
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const batch = await Promise.all(Array.from({ length: 25 }, () => api.create({ prompt: uniquePrompt("") })));
      ids.push(...batch.map((j) => j.id));
    }
    await Promise.all([stack.addWorker(), stack.addWorker()]);
    await until("the backlog drained", async () => (await countIn(stack, ids, ["queued", "running"])) === 0, 120_000);
    const outcomes = await query<{ status: string; error: string | null; n: number }>(
      stack,
      `SELECT status, "errorMessage" AS error, count(*)::int AS n FROM "Job" WHERE id = ANY($1) GROUP BY 1, 2`,
      [ids],
    );
    expect(outcomes).toEqual([{ status: "succeeded", error: null, n: ids.length }]);
  }, 180_000);
});

describe("a backlog drained by one worker", () => {
  let stack: Stack;
  // A Redis of its own: the test watches it with MONITOR, which on the shared server would echo
  // (and slow) every command of every test file running meanwhile.
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = await startPrivateRedis();
    stack = await startStack({
      label: "handoff",
      workers: 0,
      simulatorStepMs: 1,
      env: { WORKER_CONCURRENCY: "10", REDIS_URL: redis.url },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    await redis?.close();
  });

  it("hands each freed slot its next job through BullMQ's completion, not a fetch of its own", async () => {
    const api = client(stack, await stack.newApiKey());
    const jobs = 100;
    const ids: string[] = [];
    for (let i = 0; i < jobs / 20; i++) {
      const batch = await Promise.all(Array.from({ length: 20 }, () => api.create({ prompt: uniquePrompt("") })));
      ids.push(...batch.map((j) => j.id));
    }
    // BullMQ's moveToActive script, by its SHA-1 (what EVALSHA names), on this stack's queue.
    const sha = createHash("sha1").update(moveToActive.content).digest("hex");
    const wait = `${stack.env.QUEUE_PREFIX}:generation:wait`;
    // BullMQ calls it with the queue's wait list as its first key (EVALSHA sha numkeys key1 ...).
    const fetch = new RegExp(`^\\+\\S+ \\[[^\\]]*\\] "evalsha" "${sha}" "\\d+" "${wait}"`, "i");
    const lines: string[] = [];
    const monitor = await monitorRedis(stack.redis.url, (line) => lines.push(line));
    try {
      await stack.addWorker();
      await until("the backlog drained", async () => (await countIn(stack, ids, ["succeeded"])) === jobs, 60_000);
    } finally {
      monitor.close();
    }
    const fetches = lines.filter((line) => fetch.test(line)).length;
    // The first 10 jobs are fetched (10 slots); after them, each job's completion script returns
    // the job admitted into its slot. Without the wait for admission, every job was a fetch (100).
    expect(fetches).toBeGreaterThanOrEqual(1);
    expect(fetches).toBeLessThanOrEqual(jobs / 4);
  });
});
