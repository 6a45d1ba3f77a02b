import { type AppError, rateLimitedError } from "@darkroom/domain";
import type { Logger } from "@darkroom/logger";
import type { Redis } from "ioredis";
import { RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import type { AddressGate } from "./key-rate-limit";

/**
 * Counts wrong API keys and admin tokens per client address in fixed one-minute windows shared by
 * every API process (rate-limiter-flexible on Redis). Once an address has `max` failures in the
 * window, every authenticated request from it is refused until the window ends without its key
 * being looked at, a correct key included: were keys still checked, a 200 among the 429s would tell
 * a guesser which guess was right, and guessing would go on at full speed.
 */
export class AuthFailureLimiter {
  private readonly limiter: RateLimiterRedis;

  constructor(
    redis: Redis,
    prefix: string,
    private readonly max: number,
    private readonly logger: Logger,
  ) {
    this.limiter = new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: `${prefix}:auth-failures`,
      points: max,
      duration: 60,
    });
  }

  /** The address's counter, for a script that checks it in the same round trip as other work. */
  gate(address: string): AddressGate {
    return { key: this.limiter.getKey(address), max: this.max, refusal: (ms) => this.refusal(ms) };
  }

  private refusal(msBeforeNext: number): AppError {
    return rateLimitedError(
      `Too many failed authentications from this address (AUTH_FAILURES_PER_MINUTE is ${this.max}); retry after the Retry-After delay.`,
      { retryAfterSeconds: msBeforeNext / 1000, limit: { name: "auth_failures_per_minute", value: this.max } },
    );
  }

  /** Throws `rate_limited` when the address has used up its failures for this minute. */
  async check(address: string): Promise<void> {
    let state: RateLimiterRes | null;
    try {
      state = await this.limiter.get(address);
    } catch (error) {
      // Without Redis the limit cannot be shared; authentication itself still decides.
      this.logger.warn({ err: (error as Error).message }, "failed-auth limit not checked (redis unavailable)");
      return;
    }
    if (state !== null && state.consumedPoints >= this.max) throw this.refusal(state.msBeforeNext);
  }

  /** Records one failure of the address; throws `rate_limited` when it went over the limit. */
  async recordFailure(address: string): Promise<void> {
    try {
      await this.limiter.consume(address);
    } catch (error) {
      if (error instanceof RateLimiterRes) throw this.refusal(error.msBeforeNext);
      this.logger.warn({ err: (error as Error).message }, "failed authentication not counted (redis unavailable)");
    }
  }
}
