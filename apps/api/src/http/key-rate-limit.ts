import type { TenantAuth } from "@darkroom/db";
import { type AppError, rateLimitedError } from "@darkroom/domain";
import type { Logger } from "@darkroom/logger";
import type { Response } from "express";
import type { Redis } from "ioredis";

const WINDOW_SECONDS = 60;

/**
 * KEYS: the address's failed-authentication counter, the key's request counter. ARGV: the failure
 * limit, the window in seconds. {-1, ms left} when the address is blocked (nothing counted), else
 * {requests of the key in this window, ms left}. The counters have rate-limiter-flexible's layout
 * (an integer with a TTL, set on the first hit of a fixed window), which `AuthFailureLimiter` writes.
 */
const CONSUME = `
local failures = tonumber(redis.call('get', KEYS[1]) or '0')
if failures >= tonumber(ARGV[1]) then return {-1, redis.call('pttl', KEYS[1])} end
redis.call('set', KEYS[2], 0, 'EX', ARGV[2], 'NX')
local consumed = redis.call('incrby', KEYS[2], 1)
local ttl = redis.call('pttl', KEYS[2])
if ttl == -1 then
  redis.call('expire', KEYS[2], ARGV[2])
  ttl = 1000 * ARGV[2]
end
return {consumed, ttl}
`;

/** The failed-authentication limit of the request's address, as `AuthFailureLimiter` keeps it. */
export interface AddressGate {
  /** Redis key of the address's failure counter. */
  key: string;
  max: number;
  refusal(msBeforeNext: number): AppError;
}

type ConsumeFn = (failuresKey: string, rateKey: string, max: number, window: number) => Promise<[number, number]>;

/**
 * The per-API-key request limit: the tenant's `rate_limit_per_minute` requests per fixed one-minute
 * window, counted in Redis so every API process shares the count. Every answer carries the IETF
 * `RateLimit-Policy` and `RateLimit` header fields (draft-ietf-httpapi-ratelimit-headers); beyond
 * the limit the request is refused with `rate_limited`. The same script first checks the address's
 * failed authentications, so an authenticated request costs one Redis round trip.
 */
export class KeyRateLimiter {
  private readonly consumeScript: ConsumeFn;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {
    if (!("darkroomKeyRateConsume" in redis)) {
      redis.defineCommand("darkroomKeyRateConsume", { numberOfKeys: 2, lua: CONSUME });
    }
    const fn = (redis as unknown as Record<string, ConsumeFn>).darkroomKeyRateConsume as ConsumeFn;
    this.consumeScript = fn.bind(redis);
  }

  /**
   * Counts one request of the key unless the address is blocked for failed authentications (then
   * throws that refusal), sets the RateLimit headers, throws `rate_limited` over the limit. Refused
   * requests count too, which keeps a client that ignores Retry-After refused until the window ends.
   */
  async consume(auth: TenantAuth, res: Response, gate: AddressGate): Promise<void> {
    const limit = auth.rateLimitPerMinute;
    let consumed: number;
    let msBeforeNext: number;
    try {
      [consumed, msBeforeNext] = await this.consumeScript(
        gate.key,
        `${this.prefix}:key-rate:${auth.apiKeyId}`,
        gate.max,
        WINDOW_SECONDS,
      );
    } catch (error) {
      // Without Redis the count cannot be shared: serving beats refusing everyone.
      this.logger.warn({ err: (error as Error).message }, "request rate limit not checked (redis unavailable)");
      return;
    }
    if (consumed < 0) throw gate.refusal(msBeforeNext);
    const resetSeconds = Math.max(0, Math.ceil(msBeforeNext / 1000));
    res.setHeader("RateLimit-Policy", `"minute";q=${limit};w=${WINDOW_SECONDS}`);
    res.setHeader("RateLimit", `"minute";r=${Math.max(0, limit - consumed)};t=${resetSeconds}`);
    if (consumed > limit) {
      throw rateLimitedError(
        `This API key made more than ${limit} requests this minute (the tenant's rate_limit_per_minute); retry after the Retry-After delay.`,
        { retryAfterSeconds: msBeforeNext / 1000, limit: { name: "rate_limit_per_minute", value: limit } },
      );
    }
  }
}
