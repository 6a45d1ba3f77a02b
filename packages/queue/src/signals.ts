import type { Redis } from "ioredis";
import { createRedisConnection } from "./connection";
import { intakeChannel } from "./fair";

/**
 * Redis pub/sub carries only wake-up signals, never data: Postgres holds the events, so a lost
 * message delays a listener (which also polls) but can never lose or reorder anything.
 */

/** The channel on which the API tells every worker to abort a job's in-flight call. */
export function cancelChannel(prefix: string): string {
  return `${prefix}:signals:cancel`;
}

/** The channel announcing that a job has new committed events. */
export function jobEventsChannel(prefix: string, jobId: string): string {
  return `${prefix}:signals:events:${jobId}`;
}

/** The channel on which a revocation tells every API process to forget a cached API key. */
export function apiKeyRevokedChannel(prefix: string): string {
  return `${prefix}:signals:api-key-revoked`;
}

/** Announces that an API key was revoked (call after the commit); the message is the key's id. */
export async function publishApiKeyRevoked(redis: Redis, prefix: string, apiKeyId: string): Promise<void> {
  await redis.publish(apiKeyRevokedChannel(prefix), apiKeyId);
}

/** Prefix of a message on the revocation channel that names a tenant whose settings changed. */
export const TENANT_CHANGED_PREFIX = "tenant:";

/** Announces that a tenant's settings changed: every API process forgets the tenant's cached keys. */
export async function publishTenantChanged(redis: Redis, prefix: string, tenantId: string): Promise<void> {
  await redis.publish(apiKeyRevokedChannel(prefix), `${TENANT_CHANGED_PREFIX}${tenantId}`);
}

/** Announces a cancel; every worker that holds the job aborts its upstream request. */
export async function publishCancel(redis: Redis, prefix: string, jobId: string): Promise<void> {
  await redis.publish(cancelChannel(prefix), jobId);
}

/** Announces new committed events of a job (call after the commit). */
export async function publishJobEvents(redis: Redis, prefix: string, jobId: string): Promise<void> {
  await redis.publish(jobEventsChannel(prefix, jobId), "1");
}

/**
 * Collects job-event signals and publishes them together, in one Redis pipeline per turn of the
 * event loop (a progress tick commits hundreds of jobs at once): one round trip, not one per job.
 */
export class JobEventPublisher {
  private pending = new Set<string>();
  private scheduled = false;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** Announces new committed events of these jobs (call after the commit). */
  publish(jobIds: Iterable<string>): void {
    for (const jobId of jobIds) this.pending.add(jobId);
    if (this.scheduled || this.pending.size === 0) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const jobIds = this.pending;
    this.pending = new Set();
    if (jobIds.size === 0) return;
    const pipeline = this.redis.pipeline();
    for (const jobId of jobIds) pipeline.publish(jobEventsChannel(this.prefix, jobId), "1");
    // A lost signal delays a listener (which also polls); it loses nothing.
    pipeline.exec().catch(() => undefined);
  }
}

export interface Subscription {
  close(): Promise<void>;
}

/**
 * A worker's signals on a connection of its own (a subscribed connection can do nothing else):
 * cancels, and (with `onIntake`) enqueues that found a free slot.
 */
export async function subscribeCancels(
  redisUrl: string,
  prefix: string,
  onCancel: (jobId: string) => void,
  onIntake?: () => void,
): Promise<Subscription> {
  const subscriber = createRedisConnection(redisUrl, "worker");
  subscriber.on("error", () => undefined); // reconnects by itself; the lease check is the backstop
  const intake = intakeChannel(prefix);
  await subscriber.subscribe(cancelChannel(prefix), ...(onIntake === undefined ? [] : [intake]));
  subscriber.on("message", (channel: string, message: string) => {
    if (channel === intake) onIntake?.();
    else onCancel(message);
  });
  return {
    async close() {
      subscriber.disconnect();
    },
  };
}

/** How long `listen` waits for Redis to confirm a subscription before relying on the poll. */
const SUBSCRIBE_WAIT_MS = 500;

/**
 * One subscriber connection per process for job-event signals, shared by every listener
 * (each SSE stream or waiting request registers a callback for its job).
 */
export class JobEventSignals {
  private readonly listeners = new Map<string, Set<(message: string) => void>>();
  /** Per job: settles once Redis confirmed the subscription (or refused it). */
  private readonly subscribed = new Map<string, Promise<void>>();
  private readonly subscriber: Redis;

  constructor(
    redisUrl: string,
    private readonly prefix: string,
  ) {
    this.subscriber = createRedisConnection(redisUrl, "worker");
    this.subscriber.on("error", () => undefined); // listeners poll Postgres as well
    this.subscriber.on("message", (channel: string, message: string) => {
      const jobId = channel.slice(jobEventsChannel(this.prefix, "").length);
      for (const listener of this.listeners.get(jobId) ?? []) listener(message);
    });
  }

  /** Calls `listener` with each message on the job's channel; returns the unsubscribe function. */
  async listen(jobId: string, listener: (message: string) => void): Promise<() => void> {
    let set = this.listeners.get(jobId);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(jobId, set);
      this.subscribed.set(
        jobId,
        this.subscriber.subscribe(jobEventsChannel(this.prefix, jobId)).then(
          () => undefined,
          () => undefined,
        ),
      );
    }
    set.add(listener);
    // Callers read Postgres right after listening: waiting for the confirmation closes the gap in
    // which an event published meanwhile would wake no one until the fallback poll. Bounded, since
    // with Redis down the subscribe waits for it, and listeners poll Postgres anyway.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.subscribed.get(jobId),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, SUBSCRIBE_WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
    return () => {
      const current = this.listeners.get(jobId);
      if (current === undefined) return;
      current.delete(listener);
      if (current.size === 0) {
        this.listeners.delete(jobId);
        this.subscribed.delete(jobId);
        this.subscriber.unsubscribe(jobEventsChannel(this.prefix, jobId)).catch(() => undefined);
      }
    };
  }

  close(): void {
    this.subscriber.disconnect();
  }
}
