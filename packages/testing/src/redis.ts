import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { testRunId } from "./run";

export const TEST_REDIS_URL = "redis://127.0.0.1:6379";

export interface TestRedis {
  url: string;
  prefix: string;
  cleanup(): Promise<void>;
}

/** The start of every key prefix the current run makes: `dtest-<run>-`. */
export function runKeyPrefix(runId = testRunId()): string {
  return `dtest-${runId}-`;
}

async function deleteMatching(redis: Redis, pattern: string): Promise<number> {
  let deleted = 0;
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.del(...keys);
  } while (cursor !== "0");
  return deleted;
}

/** A queue prefix of the test's own (within its run's); its keys are removed afterwards. */
export function createTestRedis(label = "t"): TestRedis {
  const prefix = `${runKeyPrefix()}${label}-${randomBytes(4).toString("hex")}`;
  return {
    url: TEST_REDIS_URL,
    prefix,
    async cleanup() {
      const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
      try {
        await deleteMatching(redis, `${prefix}:*`);
      } finally {
        redis.disconnect();
      }
    },
  };
}

/** Removes every key a run left behind, in every database of the test server (tests may use `/5`). */
export async function deleteRunKeys(runId: string): Promise<number> {
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    const [, count] = (await redis.config("GET", "databases")) as [string, string];
    let deleted = 0;
    for (let db = 0; db < Number(count); db++) {
      await redis.select(db);
      deleted += await deleteMatching(redis, `${runKeyPrefix(runId)}*`);
    }
    return deleted;
  } finally {
    redis.disconnect();
  }
}
