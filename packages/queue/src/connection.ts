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
