import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, startApiHarness } from "./harness";

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness("dbindex", { REDIS_URL: "redis://127.0.0.1:6379/5" });
});
afterAll(async () => {
  const db5 = new Redis("redis://127.0.0.1:6379/5");
  const keys = await db5.keys(`${h.redisPrefix}:*`);
  if (keys.length > 0) await db5.del(...keys);
  db5.disconnect();
  await h.close();
});

describe("REDIS_URL with a database index", () => {
  it("enqueues into that database, not database 0", async () => {
    const { apiKey } = await h.newTenant();
    const res = await h.request("POST", "/v1/jobs", { key: apiKey, body: { prompt: "db five" } });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const db5 = new Redis("redis://127.0.0.1:6379/5");
    const db0 = new Redis("redis://127.0.0.1:6379/0");
    try {
      // The job waits in its tenant's intake (no worker here to admit it).
      expect(await db5.hexists(`${h.redisPrefix}:fair:meta`, id)).toBe(1);
      expect(await db0.hexists(`${h.redisPrefix}:fair:meta`, id)).toBe(0);
    } finally {
      db5.disconnect();
      db0.disconnect();
    }
  });
});
