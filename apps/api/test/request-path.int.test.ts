import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, startApiHarness } from "./harness";

/**
 * What one request costs in Redis, seen by MONITOR (commands run inside scripts excluded): a
 * request with a key this process already knows is one round trip for authentication and its
 * rate limit together; a create adds only the enqueue, and publishes nothing (nobody can listen to
 * a job id minted by the request itself).
 */

let h: ApiHarness;
let monitor: Redis;
const seen: string[][] = [];

beforeAll(async () => {
  h = await startApiHarness("request-path");
  const admin = new Redis(h.api.config.env.REDIS_URL);
  monitor = await admin.monitor();
  admin.disconnect();
  monitor.on("monitor", (_time: string, args: string[], source: string) => {
    if (source === "lua") return;
    if (args.some((arg) => arg.includes(h.redisPrefix))) seen.push(args);
  });
});
afterAll(async () => {
  monitor?.disconnect();
  await h?.close();
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
