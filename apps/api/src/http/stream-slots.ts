import { randomUUID } from "node:crypto";
import { rateLimitedError } from "@darkroom/domain";
import type { Logger } from "@darkroom/logger";
import type { Redis } from "ioredis";

/** How long a slot counts without a heartbeat: a crashed process's slots come back after this. */
const SLOT_TTL_MS = 30_000;
/** What a refused client is told to wait: long-lived requests free their slots at no set time. */
const RETRY_AFTER_SECONDS = 5;

// One sorted set per API key: member = slot, score = when it expires unless renewed. Expired
// members are swept on every acquire, so the count is that of live slots across every process.
const ACQUIRE = `
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", ARGV[1])
if redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call("ZADD", KEYS[1], ARGV[2], ARGV[4])
redis.call("PEXPIRE", KEYS[1], ARGV[5])
return 1
`;

/** A held slot; `release()` may be called any number of times. */
export type StreamSlot = { release(): void };

/**
 * Caps the live event streams and `Prefer: wait` requests of each API key, counted in Redis so
 * that every API process shares the count. Each process renews its own slots every few seconds;
 * a slot whose process died expires on its own.
 */
export class StreamSlots {
  private readonly held = new Map<string, string>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly max: number,
    private readonly logger: Logger,
    /** Expiry of an unrenewed slot; renewed three times within it. */
    private readonly ttlMs = SLOT_TTL_MS,
  ) {
    this.timer = setInterval(() => void this.renew(), Math.floor(ttlMs / 3));
    this.timer.unref();
  }

  private key(apiKeyId: string): string {
    return `${this.prefix}:streams:${apiKeyId}`;
  }

  /** Takes a slot for the key, or throws `rate_limited` when the key already holds the maximum. */
  async acquire(apiKeyId: string): Promise<StreamSlot> {
    const member = randomUUID();
    const key = this.key(apiKeyId);
    const now = Date.now();
    let granted: unknown;
    try {
      granted = await this.redis.eval(ACQUIRE, 1, key, now, now + this.ttlMs, this.max, member, this.ttlMs);
    } catch (error) {
      // Without Redis the streams still work (they poll Postgres), so they are not refused; the
      // cap is back as soon as Redis is.
      this.logger.warn({ err: (error as Error).message }, "stream cap not checked (redis unavailable)");
      return { release: () => undefined };
    }
    if (granted !== 1) {
      throw rateLimitedError(
        `This API key already holds ${this.max} live event streams and \`Prefer: wait\` requests (MAX_STREAMS_PER_KEY); close one or retry later.`,
        { retryAfterSeconds: RETRY_AFTER_SECONDS, limit: { name: "max_streams_per_key", value: this.max } },
      );
    }
    this.held.set(member, key);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.held.delete(member);
        this.redis.zrem(key, member).catch(() => undefined);
      },
    };
  }

  private async renew(): Promise<void> {
    if (this.held.size === 0) return;
    const expiry = Date.now() + this.ttlMs;
    const pipeline = this.redis.pipeline();
    for (const [member, key] of this.held) {
      pipeline.zadd(key, "XX", expiry, member);
      pipeline.pexpire(key, this.ttlMs);
    }
    await pipeline.exec().catch(() => undefined);
  }

  /** Stops the heartbeat (the process is stopping; its streams release their slots as they end). */
  close(): void {
    clearInterval(this.timer);
  }
}
