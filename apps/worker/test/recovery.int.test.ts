import { type AddressInfo, createConnection, createServer, type Socket } from "node:net";
import { createJob, createPrismaClient, type PrismaClient } from "@darkroom/db";
import { JobCreateSchema } from "@darkroom/domain";
import { createTestDatabase, type Stack, startPrivateRedis, startProcess, startStack } from "@darkroom/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, uniquePrompt, upstreamCalls } from "./support";

// Lease and lock of 2 s, reconciler every second: the failure modes of design section 9 play out
// in seconds instead of minutes.
let stack: Stack;
let api: ReturnType<typeof client>;
let db: PrismaClient;
let tenantId: string;
beforeAll(async () => {
  stack = await startStack({
    label: "recovery",
    workers: 2,
    simulatorStepMs: 5,
    env: { JOB_LEASE_MS: "2000", RECONCILE_INTERVAL_MS: "1000", SHUTDOWN_GRACE_MS: "5000" },
  });
  api = client(stack, await stack.newApiKey());
  db = createPrismaClient({ databaseUrl: stack.db.url, poolSize: 2 });
  tenantId = (await db.tenant.findFirstOrThrow()).id;
});
afterAll(async () => {
  await db?.$disconnect();
  await stack?.stop();
});

describe("reconciler", () => {
  it("runs a job that was committed but never enqueued (crash between commit and enqueue)", async () => {
    const job = await createJob(db, { tenantId, input: JobCreateSchema.parse({ prompt: uniquePrompt("") }) });
    const started = Date.now();
    const done = await api.waitTerminal(job.id, 15_000);
    expect(done.status).toBe("succeeded");
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("re-enqueues in-flight work after Redis lost the queue's data", async () => {
    const redis = new Redis(stack.redis.url);
    const prompts = [
      uniquePrompt("[[sim script=http429 retry_after=3]]"),
      uniquePrompt("[[sim script=http500 step_ms=20]]"),
    ];
    const jobs = await Promise.all(prompts.map((prompt) => api.create({ prompt })));
    await api.waitFor(jobs[0]?.id ?? "", (j) => j.attempts.length === 1 && j.status === "queued");
    // What FLUSHDB does to this stack: every key under its prefix is gone, scheduler included.
    const keys = await redis.keys(`${stack.redis.prefix}:*`);
    expect(keys.length).toBeGreaterThan(0);
    await redis.del(...keys);
    redis.disconnect();
    for (const job of jobs) {
      const done = await api.waitTerminal(job.id, 20_000);
      expect(done.status).toBe("succeeded");
    }
  });

  it("fails a job whose deadline passed while no worker ran it, with deadline_exceeded", async () => {
    // Written 11 s ago with a 10 s deadline and never enqueued: the workers were down meanwhile.
    const input = JobCreateSchema.parse({ prompt: uniquePrompt(""), deadline_seconds: 10 });
    const job = await createJob(db, { tenantId, input, now: new Date(Date.now() - 11_000) });
    const done = await api.waitTerminal(job.id, 10_000);
    expect(done.status).toBe("failed");
    expect(done.error).toMatchObject({ code: "deadline_exceeded", retryable: false });
    expect(upstreamCalls(stack, input.prompt)).toHaveLength(0);
  });

  it("keeps one scheduler per task however many workers upsert it", async () => {
    const redis = new Redis(stack.redis.url);
    const schedulers = await redis.zrange(`${stack.redis.prefix}:maintenance:repeat`, 0, -1);
    redis.disconnect();
    expect(schedulers.sort()).toEqual(["darkroom-reconciler", "darkroom-retention"]);
  });
});

describe("fencing", () => {
  it("a worker frozen past its lock changes nothing when it wakes up after another finished the job", async () => {
    const [first] = stack.workers;
    if (first === undefined) throw new Error("no worker");
    const prompt = uniquePrompt("[[sim step_ms=150]]");
    const created = await api.create({ prompt });
    const running = await api.waitFor(created.id, (j) => j.status === "running" && j.progress.percent > 0);
    // Freeze whichever worker holds it.
    const holder = stack.workers.find((w) => w.output().includes(`"job_id":"${created.id}","attempt":1`)) ?? first;
    holder.child.kill("SIGSTOP");
    const done = await api.waitTerminal(created.id, 30_000);
    expect(done.status).toBe("succeeded");
    expect(done.attempts.map((a) => a.status)).toEqual(["interrupted", "succeeded"]);
    const eventsBefore = (await db.jobEvent.count({ where: { jobId: created.id } })) as number;
    const finished = await db.job.findUniqueOrThrow({ where: { id: created.id }, include: { images: true } });

    holder.child.kill("SIGCONT");
    // The woken worker's attempt ends on its own once it sees the fence: its lease renewal or its
    // next write finds a newer attempt, and the fenced write is refused (owned: false).
    await holder.waitFor(
      new RegExp(
        `"job_id":"${created.id}","attempt":1,.*"msg":"(attempt ended after the job moved on|attempt finished after losing the job)`,
      ),
      15_000,
    );
    const after = await db.job.findUniqueOrThrow({ where: { id: created.id }, include: { images: true } });
    expect(after.updatedAt).toEqual(finished.updatedAt);
    expect(after.images.map((i) => i.sha256)).toEqual(finished.images.map((i) => i.sha256));
    expect(after.images).toHaveLength(1);
    expect(await db.jobEvent.count({ where: { jobId: created.id } })).toBe(eventsBefore);
    expect(running.attempts[0]?.number).toBe(1);
  }, 60_000);
});

describe("graceful shutdown", () => {
  it("SIGTERM aborts the upstream call, returns the job without using an attempt, and exits in time", async () => {
    const prompt = uniquePrompt("[[sim step_ms=150]]");
    const created = await api.create({ prompt, max_attempts: 1 });
    await api.waitFor(created.id, (j) => j.status === "running" && j.progress.percent > 0);
    const holder = stack.workers.find(
      (w) => w.output().includes(`"job_id":"${created.id}"`) && w.child.exitCode === null,
    );
    if (holder === undefined) throw new Error("no worker holds the job");
    const stoppedAt = Date.now();
    const code = await holder.stop("SIGTERM");
    expect(code).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(5000);
    expect(upstreamCalls(stack, prompt)[0]?.closedByClient).toBe(true);
    stack.workers.splice(stack.workers.indexOf(holder), 1);
    if (stack.workers.length === 0) await stack.addWorker();
    // max_attempts 1, yet it succeeds: the interrupted attempt did not count.
    const done = await api.waitTerminal(created.id, 20_000);
    expect(done.status).toBe("succeeded");
    expect(done.attempts.map((a) => a.status)).toEqual(["interrupted", "succeeded"]);
    await stack.addWorker();
  });
});

/**
 * A TCP proxy to a local port that can be made to swallow everything (and never close a
 * connection): a server that hangs instead of refusing, as a frozen or partitioned Postgres does.
 */
async function startBlackholeProxy(targetPort: number) {
  const sockets = new Set<Socket>();
  let open = true;
  let swallowed = 0;
  const server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = createConnection({ host: "127.0.0.1", port: targetPort, allowHalfOpen: true });
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(from);
      from.on("error", () => undefined);
      from.on("data", (chunk) => {
        if (open) to.write(chunk);
        else swallowed++;
      });
      from.on("end", () => {
        if (open) to.end();
      });
      from.on("close", () => sockets.delete(from));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    blackhole() {
      open = false;
    },
    /**
     * Chunks dropped since the blackhole, either way: a query sent into it, or the answer to a query
     * sent just before it. Either leaves the worker waiting on Postgres for good.
     */
    swallowed: () => swallowed,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe("forced exit after SHUTDOWN_GRACE_MS", () => {
  const GRACE_MS = 3000;
  const FORCED = /"msg":"shutdown grace ran out; exiting with work unfinished"/;

  it("a worker whose Redis hangs (SIGSTOP) while it stops forces BullMQ closed and still exits within the grace", async () => {
    // A database and a Redis of its own: this worker must not take the stack's jobs.
    const db2 = await createTestDatabase("grace-redis");
    // A Redis of its own too, so that freezing it touches nothing else on the machine.
    const redis = await startPrivateRedis();
    try {
      const worker = startProcess("worker.js", {
        ...stack.env,
        DATABASE_URL: db2.url,
        REDIS_URL: redis.url,
        SHUTDOWN_GRACE_MS: String(GRACE_MS),
      });
      await worker.waitFor(/worker ready/);
      // Closing BullMQ's workers now waits on replies that never come.
      redis.signal("SIGSTOP");
      const stoppedAt = Date.now();
      const code = await worker.stop("SIGTERM");
      const tookMs = Date.now() - stoppedAt;
      expect(worker.output()).toMatch(/"msg":"shutdown grace ran out; closing anyway"/);
      expect(code).toBe(0);
      // worker.close() keeps 1.5 s of the grace for the final writes and disconnects.
      expect(tookMs).toBeGreaterThanOrEqual(GRACE_MS - 1500 - 100);
      expect(tookMs).toBeLessThan(GRACE_MS + 2000);
    } finally {
      redis.signal("SIGCONT");
      await redis.close();
      await db2.drop();
    }
  });

  it("a worker whose Postgres stops answering (blackholed) exits 1 once the grace runs out", async () => {
    const db2 = await createTestDatabase("grace-pg");
    const target = new URL(db2.url);
    const proxy = await startBlackholeProxy(Number(target.port || 5432));
    try {
      target.port = String(proxy.port);
      const worker = startProcess("worker.js", {
        ...stack.env,
        DATABASE_URL: target.toString(),
        QUEUE_PREFIX: `${stack.redis.prefix}-grace`,
        SHUTDOWN_GRACE_MS: String(GRACE_MS),
      });
      await worker.waitFor(/worker ready/);
      proxy.blackhole();
      // A query in the void (the outbox sweep's, every 500 ms) is what the stop must wait for: an
      // idle pool ends without an answer from Postgres, and the worker then exits at once, cleanly.
      // The void may hold the query or its answer (a sweep sent just before the blackhole waits
      // for its answer and starts no other), so both directions count.
      await expect.poll(() => proxy.swallowed(), { timeout: 10_000 }).toBeGreaterThan(0);
      const stoppedAt = Date.now();
      const code = await worker.stop("SIGTERM");
      const tookMs = Date.now() - stoppedAt;
      expect(worker.output()).toMatch(FORCED);
      expect(code).toBe(1);
      expect(tookMs).toBeGreaterThanOrEqual(GRACE_MS - 100);
      expect(tookMs).toBeLessThan(GRACE_MS + 4000);
    } finally {
      await proxy.close();
      await db2.drop();
    }
  });

  it("an API with a request that never finishes (its body never arrives) exits 1 once the grace runs out", async () => {
    const { url, process: doomed } = await stack.addApi({ SHUTDOWN_GRACE_MS: String(GRACE_MS) });
    const { port } = new URL(url);
    const socket = createConnection({ host: "127.0.0.1", port: Number(port) });
    socket.on("error", () => undefined); // reset when the process exits
    const accepted = new Promise<string>((resolve) =>
      socket.once("data", (chunk: Buffer) => resolve(chunk.toString())),
    );
    socket.write(
      [
        "POST /v1/jobs HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        "Content-Length: 1000",
        // The server answers 100 Continue once it has the request: it is in progress from then on.
        "Expect: 100-continue",
        "",
        '{"prompt":"never fin',
      ].join("\r\n"),
    );
    expect(await accepted).toMatch(/^HTTP\/1\.1 100 Continue/);
    const stoppedAt = Date.now();
    const code = await doomed.stop("SIGTERM");
    const tookMs = Date.now() - stoppedAt;
    socket.destroy();
    expect(code).toBe(1);
    expect(doomed.output()).toMatch(FORCED);
    expect(tookMs).toBeGreaterThanOrEqual(GRACE_MS - 100);
    expect(tookMs).toBeLessThan(GRACE_MS + 4000);
  });
});
