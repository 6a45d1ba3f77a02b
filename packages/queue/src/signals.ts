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
 * A job's progress as the worker has it, before it is committed (at most one commit per tick): what
 * live listeners are sent at once. Published on the job's event channel as JSON (the "new committed
 * events" signal is the message `1`).
 */
export interface LiveProgress {
  job_id: string;
  attempt: number;
  percent: number;
  stage: string;
  /** When the worker had it (ISO 8601). */
  at: string;
}

/** A live progress message, or null for anything else (the committed-events signal). */
export function parseLiveProgress(message: string): LiveProgress | null {
  if (!message.startsWith("{")) return null;
  try {
    const value = JSON.parse(message) as Partial<LiveProgress>;
    if (
      typeof value.job_id !== "string" ||
      typeof value.attempt !== "number" ||
      typeof value.percent !== "number" ||
      typeof value.stage !== "string" ||
      typeof value.at !== "string"
    ) {
      return null;
    }
    return value as LiveProgress;
  } catch {
    return null;
  }
}

/**
 * Collects job-event signals and live progress and publishes them together, in one Redis pipeline
 * per turn of the event loop (a progress tick commits hundreds of jobs at once): one round trip,
 * not one per job.
 */
export class JobEventPublisher {
  private pending = new Set<string>();
  /**
   * Per job, the latest live progress not yet published (an older one in the same turn is moot),
   * kept as its fields: the message is built once, when it is sent.
   */
  private progress = new Map<string, PendingProgress>();
  private scheduled = false;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** Announces new committed events of these jobs (call after the commit). */
  publish(jobIds: Iterable<string>): void {
    for (const jobId of jobIds) this.pending.add(jobId);
    if (this.pending.size > 0) this.schedule();
  }

  /**
   * Sends a job's progress to live listeners now, ahead of its commit (not a substitute for it),
   * stamped with the time of this call.
   */
  publishProgress(jobId: string, attempt: number, percent: number, stage: string): void {
    this.progress.set(jobId, { attempt, percent, stage, at: Date.now() });
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const jobIds = this.pending;
    const progress = this.progress;
    this.pending = new Set();
    this.progress = new Map();
    if (jobIds.size === 0 && progress.size === 0) return;
    const pipeline = this.redis.pipeline();
    for (const [jobId, p] of progress) {
      const live: LiveProgress = {
        job_id: jobId,
        attempt: p.attempt,
        percent: p.percent,
        stage: p.stage,
        at: new Date(p.at).toISOString(),
      };
      pipeline.publish(jobEventsChannel(this.prefix, jobId), JSON.stringify(live));
    }
    for (const jobId of jobIds) pipeline.publish(jobEventsChannel(this.prefix, jobId), "1");
    // A lost signal delays a listener (which also polls); it loses nothing.
    pipeline.exec().catch(() => undefined);
  }
}

/** A live progress waiting for its turn's publish. */
interface PendingProgress {
  attempt: number;
  percent: number;
  stage: string;
  /** When the worker had it (epoch ms). */
  at: number;
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
