import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";

export const TEST_REDIS_URL = "redis://127.0.0.1:6379";

export interface TestRedis {
  url: string;
  prefix: string;
  cleanup(): Promise<void>;
}

/** A queue prefix of the test's own; its keys are removed afterwards. */
export function createTestRedis(label = "t"): TestRedis {
  const prefix = `dtest-${label}-${randomBytes(4).toString("hex")}`;
  return {
    url: TEST_REDIS_URL,
    prefix,
    async cleanup() {
      const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
      try {
        let cursor = "0";
        do {
          const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
          cursor = next;
          if (keys.length > 0) await redis.del(...keys);
        } while (cursor !== "0");
      } finally {
        redis.disconnect();
      }
    },
  };
}
