import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";

/**
 * Fair sharing of webhook sending: caps on the attempts in flight at once per receiver (a tenant's
 * URL origin) and per tenant, counted in Redis so that every worker process shares them.
 *
 * Each cap is a sorted set of leases (member = one attempt, score = when the lease runs out). An
 * attempt is bounded by the webhook timeout, so a lease outlives it and needs no heartbeat; the
 * slot of a process that died mid-attempt comes back on its own when its lease runs out. A delivery
 * over a cap is parked: it goes on the waiting list of the cap that refused it (oldest first), and
 * every freed slot wakes the first waiter of each of its caps.
 *
 * redis-semaphore and rate-limiter-flexible hold one key per lock and have no waiting list; two caps
 * taken at once and a wake-up handed over on release need these three short scripts.
 */

// KEYS: receiver slots, tenant slots, receiver waiting list, tenant waiting list.
// ARGV: now, lease end, receiver cap, tenant cap, lease member, delivery id, key ttl.
// Returns 0 (granted), 1 (the receiver is full) or 2 (the tenant is full).
const ACQUIRE = `
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", ARGV[1])
redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", ARGV[1])
if redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[3]) then return 1 end
if redis.call("ZCARD", KEYS[2]) >= tonumber(ARGV[4]) then return 2 end
redis.call("ZADD", KEYS[1], ARGV[2], ARGV[5])
redis.call("ZADD", KEYS[2], ARGV[2], ARGV[5])
redis.call("PEXPIRE", KEYS[1], ARGV[7])
redis.call("PEXPIRE", KEYS[2], ARGV[7])
redis.call("ZREM", KEYS[3], ARGV[6])
redis.call("ZREM", KEYS[4], ARGV[6])
return 0
`;

// KEYS as ACQUIRE. ARGV: now, receiver cap, tenant cap, delivery id, waiting since, key ttl.
// Returns 0 when both caps have room now (the caller tries again at once), else 1 or 2 as ACQUIRE,
// having put the delivery on that cap's waiting list (keeping its place if it was there already).
// Run after the delivery's job was parked, so that a release before this script finds it parked
// and one after it finds it listed: no wake-up falls in between.
const PARK = `
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", ARGV[1])
redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", ARGV[1])
local full = 0
if redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[2]) then full = 1
elseif redis.call("ZCARD", KEYS[2]) >= tonumber(ARGV[3]) then full = 2
else return 0 end
redis.call("ZADD", KEYS[2 + full], "NX", ARGV[5], ARGV[4])
redis.call("PEXPIRE", KEYS[2 + full], ARGV[6])
return full
`;

// KEYS as ACQUIRE. ARGV: lease member. Frees the lease and pops the first waiter of each cap:
// returns {receiver's first waiter, tenant's first waiter}, "" where a list is empty.
const RELEASE = `
redis.call("ZREM", KEYS[1], ARGV[1])
redis.call("ZREM", KEYS[2], ARGV[1])
local woken = {}
for i = 3, 4 do
  local first = redis.call("ZPOPMIN", KEYS[i])
  woken[i - 2] = first[1] or ""
end
return woken
`;

/** Who a delivery goes to: its tenant and its URL. */
export interface DeliveryRoute {
  tenantId: string;
  url: string;
}

export interface WebhookSlotOptions {
  /** Prefix of every key (the queue prefix, hash-tagged on Redis Cluster). */
  prefix: string;
  perEndpoint: number;
  perTenant: number;
  /** How long a lease counts: longer than the longest attempt (the webhook timeout plus a margin). */
  leaseMs: number;
  /**
   * Wakes a parked delivery (makes its queued job due now); false when there is nothing to wake
   * (the job is gone, or is not parked any more), and the next waiter is woken instead.
   */
  wake: (deliveryId: string) => Promise<boolean>;
}

/** A held slot; `release()` frees it and wakes the next waiters. */
export interface WebhookSlot {
  release(): Promise<void>;
}

/** Stale entries skipped at most per release before giving up (the waiters' own timers remain). */
const MAX_WAKE_TRIES = 20;

export class WebhookSlots {
  constructor(
    private readonly redis: Redis,
    private readonly options: WebhookSlotOptions,
  ) {}

  /** The four keys of the scripts, in their order: receiver slots, tenant slots, their waiting lists. */
  private keys(route: DeliveryRoute): [string, string, string, string] {
    const base = `${this.options.prefix}:webhooks:in-flight`;
    // One receiver is one origin (scheme, host, port): paths on one server share its capacity.
    const endpoint = `${base}:endpoint:${route.tenantId}:${new URL(route.url).origin}`;
    const tenant = `${base}:tenant:${route.tenantId}`;
    return [endpoint, tenant, `${endpoint}:waiting`, `${tenant}:waiting`];
  }

  /** Waiting lists outlive many leases: a parked delivery's own timer brings it back well within. */
  private get waitingTtlMs(): number {
    return this.options.leaseMs * 10;
  }

  /** Takes a slot under both caps for one attempt, or answers null when either cap is full. */
  async acquire(route: DeliveryRoute, deliveryId: string): Promise<WebhookSlot | null> {
    const keys = this.keys(route);
    const member = randomUUID();
    const now = Date.now();
    const { perEndpoint, perTenant, leaseMs } = this.options;
    const refused = await this.redis.eval(
      ACQUIRE,
      keys.length,
      ...keys,
      now,
      now + leaseMs,
      perEndpoint,
      perTenant,
      member,
      deliveryId,
      leaseMs,
    );
    if (refused !== 0) return null;
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        const [endpointWaiter, tenantWaiter] = (await this.redis.eval(
          RELEASE,
          keys.length,
          ...keys,
          member,
        )) as string[];
        await Promise.all([this.wakeFirst(endpointWaiter, keys[2]), this.wakeFirst(tenantWaiter, keys[3])]);
      },
    };
  }

  /**
   * Puts a refused delivery on the waiting list of the cap that refused it. False when both caps
   * have room again (a slot was freed since the refusal): the caller should try again now.
   */
  async park(route: DeliveryRoute, deliveryId: string): Promise<boolean> {
    const keys = this.keys(route);
    const { perEndpoint, perTenant } = this.options;
    const full = await this.redis.eval(
      PARK,
      keys.length,
      ...keys,
      Date.now(),
      perEndpoint,
      perTenant,
      deliveryId,
      Date.now(),
      this.waitingTtlMs,
    );
    return full !== 0;
  }

  /** Takes a delivery off both waiting lists (it was sent, or is no longer pending). */
  async forget(route: DeliveryRoute, deliveryId: string): Promise<void> {
    const [, , endpointWaiting, tenantWaiting] = this.keys(route);
    await this.redis.pipeline().zrem(endpointWaiting, deliveryId).zrem(tenantWaiting, deliveryId).exec();
  }

  /** Wakes `first`, or, when it cannot be woken, the next waiters of the same list. */
  private async wakeFirst(first: string | undefined, waitingKey: string): Promise<void> {
    let id = first;
    for (let tries = 0; id !== undefined && id !== "" && tries < MAX_WAKE_TRIES; tries++) {
      if (await this.options.wake(id)) return;
      [id] = await this.redis.zpopmin(waitingKey);
    }
  }
}
