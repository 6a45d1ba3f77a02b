import type { TenantAuth } from "@darkroom/db";
import { rateLimitedError } from "@darkroom/domain";
import type { Logger } from "@darkroom/logger";
import type { Response } from "express";
import type { Redis } from "ioredis";
import { RateLimiterRedis } from "rate-limiter-flexible";

const WINDOW_SECONDS = 60;

/**
 * The per-API-key request limit: the tenant's `rate_limit_per_minute` requests per fixed one-minute
 * window, counted in Redis so every API process shares the count (rate-limiter-flexible). Every
 * answer carries the IETF `RateLimit-Policy` and `RateLimit` header fields
 * (draft-ietf-httpapi-ratelimit-headers); beyond the limit the request is refused with `rate_limited`.
 */
export class KeyRateLimiter {
  private readonly limiter: RateLimiterRedis;

  constructor(
    redis: Redis,
    prefix: string,
    private readonly logger: Logger,
  ) {
    // Limits differ per tenant, so the limiter only counts (it never refuses by itself) and the
    // comparison with the tenant's limit happens here; refused requests count too, which keeps a
    // client that ignores Retry-After refused until the window ends.
    this.limiter = new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: `${prefix}:key-rate`,
      points: Number.MAX_SAFE_INTEGER,
      duration: WINDOW_SECONDS,
    });
  }

  /** Counts one request of the key, sets the RateLimit headers, throws `rate_limited` over the limit. */
  async consume(auth: TenantAuth, res: Response): Promise<void> {
    const limit = auth.rateLimitPerMinute;
    let consumed: number;
    let msBeforeNext: number;
    try {
      const state = await this.limiter.consume(auth.apiKeyId);
      consumed = state.consumedPoints;
      msBeforeNext = state.msBeforeNext;
    } catch (error) {
      // Without Redis the count cannot be shared: serving beats refusing everyone.
      this.logger.warn({ err: (error as Error).message }, "request rate limit not checked (redis unavailable)");
      return;
    }
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
