import type { Logger } from "@darkroom/logger";
import {
  type GenerationQueue,
  readUpstreamQuota,
  type UpstreamQuotaState,
  upstreamQuotaPollLock,
  writeUpstreamQuota,
} from "@darkroom/queue";
import { quotaExhausted, type UpstreamQuota } from "@darkroom/upstream";
import type { Redis } from "ioredis";

/** While generation is paused, the quota is asked again at least this often. */
export const PAUSED_RECHECK_MS = 30_000;
/** How often a worker looks whether a poll is due (and refreshes nothing else). */
const TICK_MS = 1_000;

export interface QuotaGuardDeps {
  redis: Redis;
  prefix: string;
  queue: GenerationQueue;
  logger: Logger;
  /** Asks the upstream (`GET /api/usage/token`). */
  fetchQuota: () => Promise<UpstreamQuota>;
  /** UPSTREAM_QUOTA_POLL_SECONDS in ms. */
  pollMs: number;
  /** UPSTREAM_QUOTA_WARN: below it the quota is `low` and a warning is logged. */
  warnBelow: number;
}

const EMPTY: UpstreamQuotaState = {
  status: "unknown",
  available: null,
  unlimited: false,
  expires_at: null,
  checked_at: null,
  error: null,
  paused: false,
  paused_at: null,
  reason: null,
};

/**
 * The upstream quota guard (issue 11): one worker at a time polls the key's quota every
 * `pollMs` (every {@link PAUSED_RECHECK_MS} at most while paused). When the quota is exhausted, or
 * an upstream call answers with a quota error ({@link onQuotaAnswer}), the generation queue is
 * paused for every worker instead of failing job after job; calls in flight finish. Generation
 * resumes when a poll shows quota again, or, when the upstream cannot tell (its quota endpoint
 * fails), once the pause is {@link PAUSED_RECHECK_MS} old: the next call is then the probe. The
 * state is shared through Redis for the API's overview, `/readyz` and `/metrics`.
 */
export class QuotaGuard {
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | null = null;

  constructor(private readonly deps: QuotaGuardDeps) {}

  /** Polls now (in the background: a slow upstream must not hold the start), then keeps watching. */
  start(): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), Math.min(TICK_MS, this.deps.pollMs));
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** An upstream call answered that the quota is used up: pause generation at once. */
  async onQuotaAnswer(message: string): Promise<void> {
    const state = (await readUpstreamQuota(this.deps.redis, this.deps.prefix)) ?? EMPTY;
    if (state.paused) {
      // Paused already (another worker, or the poll): make sure the queue is, too.
      await this.deps.queue.pause();
      return;
    }
    await this.pause({ ...state, status: "exhausted" }, `the upstream answered: ${message}`);
  }

  private async tick(): Promise<void> {
    if (this.polling !== null) return;
    this.polling = this.pollIfDue()
      .catch((err: unknown) => this.deps.logger.warn({ err }, "upstream quota check failed"))
      .finally(() => {
        this.polling = null;
      });
    await this.polling;
  }

  private async pollIfDue(): Promise<void> {
    const { redis, prefix, pollMs } = this.deps;
    const state = (await readUpstreamQuota(redis, prefix)) ?? EMPTY;
    const every = state.paused ? Math.min(pollMs, PAUSED_RECHECK_MS) : pollMs;
    const last = state.checked_at === null ? 0 : Date.parse(state.checked_at);
    if (Date.now() - last < every) return;
    // One poller at a time over every worker; the lock outlives a slow answer.
    const locked = await redis.set(upstreamQuotaPollLock(prefix), "1", "PX", Math.max(1_000, every - 100), "NX");
    if (locked === null) return;
    await this.poll(state);
  }

  private async poll(before: UpstreamQuotaState): Promise<void> {
    const now = new Date();
    let quota: UpstreamQuota;
    try {
      quota = await this.deps.fetchQuota();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const state = { ...before, status: "unknown" as const, checked_at: now.toISOString(), error: message };
      this.deps.logger.warn({ error: message }, "the upstream did not tell its quota");
      const pausedFor = before.paused_at === null ? 0 : now.getTime() - Date.parse(before.paused_at);
      if (before.paused && pausedFor >= Math.min(this.deps.pollMs, PAUSED_RECHECK_MS)) {
        await this.resume(state, "the quota cannot be checked; the next call is the probe");
      } else {
        await writeUpstreamQuota(this.deps.redis, this.deps.prefix, state);
      }
      return;
    }
    const exhausted = quotaExhausted(quota, now.getTime());
    const low = !quota.unlimited && quota.available < this.deps.warnBelow;
    const state: UpstreamQuotaState = {
      ...before,
      status: exhausted ? "exhausted" : low ? "low" : "ok",
      available: quota.unlimited ? null : quota.available,
      unlimited: quota.unlimited,
      expires_at: quota.expiresAt?.toISOString() ?? null,
      checked_at: now.toISOString(),
      error: null,
    };
    if (exhausted && !before.paused) {
      const why = quota.expiresAt !== null && quota.expiresAt <= now ? "the upstream key expired" : "no quota left";
      await this.pause(state, `${why} (poll)`);
      return;
    }
    if (!exhausted && before.paused) {
      await this.resume(state, "the quota is back");
      return;
    }
    if (low && before.status !== "low") {
      this.deps.logger.warn(
        { available: quota.available, warn_below: this.deps.warnBelow },
        "the upstream quota is running low (UPSTREAM_QUOTA_WARN)",
      );
    }
    await writeUpstreamQuota(this.deps.redis, this.deps.prefix, state);
  }

  private async pause(state: UpstreamQuotaState, reason: string): Promise<void> {
    const paused = { ...state, paused: true, paused_at: new Date().toISOString(), reason };
    // The state first: a worker that sees the queue paused also finds why.
    await writeUpstreamQuota(this.deps.redis, this.deps.prefix, paused);
    await this.deps.queue.pause();
    this.deps.logger.error(
      { reason, available: state.available },
      "upstream quota exhausted: generation paused (jobs wait, none fails); it resumes when the quota returns",
    );
  }

  private async resume(state: UpstreamQuotaState, why: string): Promise<void> {
    await writeUpstreamQuota(this.deps.redis, this.deps.prefix, {
      ...state,
      paused: false,
      paused_at: null,
      reason: null,
    });
    await this.deps.queue.resume();
    this.deps.logger.info({ why, available: state.available }, "generation resumed");
  }
}
