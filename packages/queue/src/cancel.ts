import type { Redis } from "ioredis";
import { createRedisConnection } from "./connection";

/** The pub/sub channel on which the API tells every worker to abort a job's in-flight call. */
export function cancelChannel(prefix: string): string {
  return `${prefix}:signals:cancel`;
}

/** Announces a cancel; every worker that holds the job aborts its upstream request. */
export async function publishCancel(redis: Redis, prefix: string, jobId: string): Promise<void> {
  await redis.publish(cancelChannel(prefix), jobId);
}

export interface CancelSubscription {
  close(): Promise<void>;
}

/** Listens for cancels on a connection of its own (a subscribed connection can do nothing else). */
export async function subscribeCancels(
  redisUrl: string,
  prefix: string,
  onCancel: (jobId: string) => void,
): Promise<CancelSubscription> {
  const subscriber = createRedisConnection(redisUrl, "worker");
  subscriber.on("error", () => undefined); // reconnects by itself; the lease check is the backstop
  await subscriber.subscribe(cancelChannel(prefix));
  subscriber.on("message", (_channel: string, message: string) => onCancel(message));
  return {
    async close() {
      subscriber.disconnect();
    },
  };
}
