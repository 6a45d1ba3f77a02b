import { Redis, type RedisOptions } from "ioredis";

export type ConnectionRole = "worker" | "producer";

/**
 * One ioredis connection. Workers block on Redis and must wait it out (`maxRetriesPerRequest: null`,
 * as BullMQ requires); producers (the API) fail fast so a request never hangs on a dead Redis.
 * A database index in the URL (`redis://host:6379/5`) is honoured by ioredis itself.
 */
export function createRedisConnection(redisUrl: string, role: ConnectionRole, extra: RedisOptions = {}): Redis {
  const options: RedisOptions =
    role === "worker"
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 5_000 };
  return new Redis(redisUrl, { ...options, ...extra, lazyConnect: false });
}

/**
 * A connection for short, non-blocking commands that concurrent work issues in the same turn of the
 * event loop (the API's request-limit counts and enqueues; the worker's event signals, fair-intake
 * scripts and circuit outcomes): auto-pipelined, so they leave in one write and their replies come
 * back in one read instead of a system call each. Never for blocking commands: one would hold the
 * replies of everything pipelined behind it (BullMQ's connections stay plain).
 */
export function createPipelinedConnection(redisUrl: string, role: ConnectionRole): Redis {
  return createRedisConnection(redisUrl, role, { enableAutoPipelining: true });
}
