import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { isProcessAlive } from "@darkroom/domain";
import { Redis } from "ioredis";
import { ownerPidOf, testRunId } from "./run";

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

/**
 * A queue prefix of the test's own (within its run's); its keys are removed afterwards. On the
 * machine's shared Redis unless `url` names another (a {@link PrivateRedis} of the test's own).
 */
export function createTestRedis(label = "t", url = TEST_REDIS_URL): TestRedis {
  const prefix = `${runKeyPrefix()}${label}-${randomBytes(4).toString("hex")}`;
  return {
    url,
    prefix,
    async cleanup() {
      const redis = new Redis(url, { maxRetriesPerRequest: 1 });
      try {
        await deleteMatching(redis, `${prefix}:*`);
      } finally {
        redis.disconnect();
      }
    },
  };
}

/** Runs every database of the test server (tests may use `/5`) through `fn`. */
async function inEveryDatabase(fn: (redis: Redis) => Promise<number>): Promise<number> {
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    const [, count] = (await redis.config("GET", "databases")) as [string, string];
    let total = 0;
    for (let db = 0; db < Number(count); db++) {
      await redis.select(db);
      total += await fn(redis);
    }
    return total;
  } finally {
    redis.disconnect();
  }
}

/** Removes every key a run left behind, in every database of the test server. */
export function deleteRunKeys(runId: string): Promise<number> {
  return inEveryDatabase((redis) => deleteMatching(redis, `${runKeyPrefix(runId)}*`));
}

const RUN_KEY = /^dtest-(r\d+x[0-9a-f]{4})-/;

/** Removes the keys of every run whose owning process is gone (a run that was killed); live runs are never touched. */
export function deleteDeadRunKeys(): Promise<number> {
  return inEveryDatabase(async (redis) => {
    const dead = new Set<string>();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", "dtest-r*", "COUNT", 1000);
      cursor = next;
      for (const key of keys) {
        const runId = RUN_KEY.exec(key)?.[1];
        const pid = runId === undefined ? null : ownerPidOf(runId);
        if (runId !== undefined && pid !== null && !isProcessAlive(pid)) dead.add(runId);
      }
    } while (cursor !== "0");
    let deleted = 0;
    for (const runId of dead) deleted += await deleteMatching(redis, `${runKeyPrefix(runId)}*`);
    return deleted;
  });
}

/**
 * Every command the Redis server at `url` runs from the moment this resolves, as MONITOR prints
 * them (`+<time> [<db> <client>] "cmd" "arg"...`), one `onLine` call each. Read from a plain socket:
 * ioredis's own monitor mode can take the first lines of a busy server for replies and throw
 * ("Command queue state error", redis/ioredis#1981). On the machine's shared server a monitor sees
 * (and slows) every test file: watch a {@link PrivateRedis}. `close` stops it, and throws the
 * socket's error if it had one (lines were lost: the test fails on it, not the run).
 */
export async function monitorRedis(url: string, onLine: (line: string) => void): Promise<{ close: () => void }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port || 6379), hostname);
  let rest = "";
  let monitoring = false;
  let settle: (error?: Error) => void = () => undefined;
  let failure: Error | null = null;
  const ok = new Promise<void>((resolve, reject) => {
    settle = (error) => (error === undefined ? resolve() : reject(error));
  });
  socket.on("error", (error) => {
    failure = error;
    settle(error);
  });
  // A server that closes the connection (or refuses MONITOR) before its +OK: the caller hears so
  // instead of waiting for it until its own timeout.
  socket.on("close", () => {
    if (!monitoring) settle(failure ?? new Error(`Redis at ${url} closed the connection before MONITOR started`));
  });
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    const parts = (rest + chunk).split("\r\n");
    rest = parts.pop() ?? "";
    for (const line of parts) {
      if (monitoring) onLine(line);
      else if (line === "+OK") {
        monitoring = true;
        settle();
      } else {
        settle(new Error(`Redis at ${url} refused MONITOR: ${line}`));
        socket.destroy();
        return;
      }
    }
  });
  socket.write("MONITOR\r\n");
  await ok;
  return {
    close: () => {
      socket.destroy();
      if (failure !== null) throw failure;
    },
  };
}
