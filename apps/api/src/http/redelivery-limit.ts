import { rateLimitedError } from "@darkroom/domain";
import type { Logger } from "@darkroom/logger";
import type { Response } from "express";
import type { Redis } from "ioredis";
import { RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";

const WINDOW_SECONDS = 60;
/** The policy's name in the `RateLimit` and `RateLimit-Policy` fields, beside the key's `"minute"`. */
const POLICY = "redeliveries";

/**
 * Manual webhook redeliveries per tenant: `WEBHOOK_REDELIVERIES_PER_MINUTE` per fixed one-minute
 * window, counted in Redis so that every API process shares the count (rate-limiter-flexible).
 * Each redelivery is an attempt at a receiver that may not answer for the whole webhook timeout,
 * so without a bound one tenant's clicks could keep the webhook workers busy for everyone.
 */
export class RedeliveryLimiter {
  private readonly limiter: RateLimiterRedis;

  constructor(
    redis: Redis,
    prefix: string,
    private readonly max: number,
    private readonly logger: Logger,
  ) {
    this.limiter = new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: `${prefix}:redeliveries`,
      points: max,
      duration: WINDOW_SECONDS,
    });
  }

  /**
   * Counts one redelivery of the tenant and adds the `"redeliveries"` policy to the answer's
   * `RateLimit-Policy` and `RateLimit` fields; throws `rate_limited` over the limit.
   */
  async consume(tenantId: string, res: Response): Promise<void> {
    let state: RateLimiterRes;
    let refused = false;
    try {
      state = await this.limiter.consume(tenantId);
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) {
        // Without Redis the count cannot be shared: redelivering beats refusing everyone.
        this.logger.warn({ err: (error as Error).message }, "redelivery limit not checked (redis unavailable)");
        return;
      }
      state = error;
      refused = true;
    }
    // Appended: the key's own request limit has set its `"minute"` policy already (a list of both).
    res.append("RateLimit-Policy", `"${POLICY}";q=${this.max};w=${WINDOW_SECONDS}`);
    res.append("RateLimit", `"${POLICY}";r=${state.remainingPoints};t=${Math.ceil(state.msBeforeNext / 1000)}`);
    if (refused) {
      throw rateLimitedError(
        `This tenant asked for more than ${this.max} webhook redeliveries this minute (WEBHOOK_REDELIVERIES_PER_MINUTE); retry after the Retry-After delay.`,
        {
          retryAfterSeconds: state.msBeforeNext / 1000,
          limit: { name: "webhook_redeliveries_per_minute", value: this.max },
        },
      );
    }
  }
}
