import { monitorRedis, type PrivateRedis, startPrivateRedis } from "@darkroom/testing";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, type ApiHarness, startApiHarness } from "./harness";

/** The namespace of the per-tenant usage lock (packages/db/src/usage.ts). */
const USAGE_LOCK_SPACE = 0x75736167;

/**
 * What one request costs in Redis, seen by MONITOR (commands run inside scripts excluded): a
 * request with a key this process already knows is one round trip for authentication and its
 * rate limit together; a create adds only the enqueue, and publishes nothing (nobody can listen to
 * a job id minted by the request itself).
 */

let h: ApiHarness;
// A Redis of this file's own: MONITOR on the shared server would echo (and slow) every command of
// every test file running meanwhile.
let redis: PrivateRedis;
let monitor: { close: () => void } | undefined;
const seen: string[][] = [];

/**
 * One line of MONITOR output (`+<time> [<db> <client>] "cmd" "arg"...`, or `... [<db> lua] ...` for
 * a command a script ran) as its command and arguments; null for a script's commands.
 */
function parseMonitorLine(line: string): string[] | null {
  const m = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] (.*)$/.exec(line);
  if (m === null || m[1] === "lua") return null;
  return [...(m[2] ?? "").matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((arg) => arg[1] ?? "");
}

beforeAll(async () => {
  redis = await startPrivateRedis();
  h = await startApiHarness("request-path", { REDIS_URL: redis.url });
  monitor = await monitorRedis(redis.url, (line) => {
    const args = parseMonitorLine(line);
    if (args?.some((arg) => arg.includes(h.redisPrefix))) seen.push(args);
  });
});
afterAll(async () => {
  monitor?.close();
  await h?.close();
  await redis?.close();
});

/** The commands naming this test's prefix that `work` made. */
async function commandsOf(work: () => Promise<void>): Promise<string[][]> {
  // MONITOR is a separate connection: a marker command tells when everything before it was seen.
  const mark = async () => {
    const marker = `${h.redisPrefix}:marker:${Math.random()}`;
    const probe = new Redis(h.api.config.env.REDIS_URL);
    await probe.get(marker);
    probe.disconnect();
    const deadline = Date.now() + 5_000;
    while (!seen.some((args) => args.includes(marker)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  await mark();
  seen.length = 0;
  await work();
  await mark();
  return seen.filter((args) => !args.some((arg) => arg.includes(":marker:")));
}

const names = (commands: string[][]) => commands.map((args) => String(args[0]).toLowerCase());

describe("Redis round trips of a request", () => {
  it("authenticates a known key and counts its rate limit in one round trip", async () => {
    const { apiKey } = await h.newTenant("known");
    expect((await h.request("GET", "/v1/jobs", { key: apiKey })).status).toBe(200); // caches the key
    const commands = await commandsOf(async () => {
      const res = await h.request("GET", "/v1/jobs", { key: apiKey });
      expect(res.status).toBe(200);
      expect(res.headers.get("ratelimit")).toMatch(/r=\d+/);
    });
    expect(names(commands)).toEqual(["evalsha"]);
  });

  it("creates a job with the authentication and the enqueue only, and publishes nothing", async () => {
    const { apiKey } = await h.newTenant("creator");
    // Caches the key, and loads the enqueue script (its first call is an EVAL).
    const warm = await h.request("POST", "/v1/jobs", { key: apiKey, body: { prompt: "warm up" } });
    expect(warm.status).toBe(202);
    let jobId = "";
    const commands = await commandsOf(async () => {
      const res = await h.request("POST", "/v1/jobs", { key: apiKey, body: { prompt: "no listeners yet" } });
      expect(res.status).toBe(202);
      const job = (await res.json()) as { id: string; progress: { queue_position: number | null } };
      expect(job.progress.queue_position).toBe(2);
      jobId = job.id;
    });
    expect(names(commands)).toEqual(["evalsha", "evalsha"]);
    expect(names(commands)).not.toContain("publish");
    // The monitor does see a publish of this job's events: a cancel announces one.
    const cancel = await commandsOf(async () => {
      expect((await h.request("POST", `/v1/jobs/${jobId}/cancel`, { key: apiKey })).status).toBe(200);
    });
    expect(cancel.filter((args) => String(args[0]).toLowerCase() === "publish").map((args) => args[1])).toEqual([
      `${h.redisPrefix}:signals:events:${jobId}`,
    ]);
  });
});

describe("contention slows a create, never fails it", () => {
  let one: ApiHarness;
  beforeAll(async () => {
    one = await startApiHarness("pool-of-one", { DATABASE_POOL_SIZE: "1" });
  });
  afterAll(async () => {
    await one?.close();
  });

  it("waits for the tenant's usage lock and for the only pooled connection beyond Prisma's default 2 s and 5 s", async () => {
    const { apiKey, tenantId } = await one.newTenant("limited");
    const patched = await one.request("PATCH", `/admin/api/tenants/${tenantId}`, {
      key: ADMIN_TOKEN,
      body: { images_per_day: 1000 },
    });
    expect(patched.status).toBe(200);
    // Another session holds the tenant's usage lock (as a long create would) for 6 s.
    const holder = new pg.Client({ connectionString: one.databaseUrl });
    await holder.connect();
    try {
      await holder.query("SELECT pg_advisory_lock($1::int, hashtext($2))", [USAGE_LOCK_SPACE, tenantId]);
      const release = setTimeout(() => void holder.query("SELECT pg_advisory_unlock_all()"), 6_000);
      const started = Date.now();
      const answers = await Promise.all(
        Array.from({ length: 3 }, () => one.request("POST", "/v1/jobs", { key: apiKey, body: { prompt: "waits" } })),
      );
      clearTimeout(release);
      expect(answers.map((res) => res.status)).toEqual([202, 202, 202]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(5_500);
    } finally {
      await holder.end();
    }
  }, 30_000);
});
