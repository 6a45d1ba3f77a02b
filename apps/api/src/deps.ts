import type { PrismaClient } from "@darkroom/db";
import type { ImageUrlSigner } from "@darkroom/domain";
import type { Logger } from "@darkroom/logger";
import type { FairIntake, GenerationQueue, JobEventSignals } from "@darkroom/queue";
import type { ImageStorage } from "@darkroom/storage";
import type { Redis } from "ioredis";
import type { ApiConfig } from "./config";
import type { AuthFailureLimiter } from "./http/auth-failures";
import type { EventHub } from "./http/event-hub";
import type { JobEstimates } from "./http/job-estimates";
import type { ApiKeyCache } from "./http/key-cache";
import type { KeyRateLimiter } from "./http/key-rate-limit";
import type { ApiMetrics } from "./http/metrics";
import type { RedeliveryLimiter } from "./http/redelivery-limit";
import type { ShutdownHooks } from "./http/shutdown";
import type { StreamSlots } from "./http/stream-slots";

/** Everything a route needs, built once per process and passed down. */
export interface ApiDeps {
  config: ApiConfig;
  db: PrismaClient;
  redis: Redis;
  queue: GenerationQueue;
  /** The tenants' intakes: every new or retried job is queued here, and admitted fairly by the workers. */
  intake: FairIntake;
  /** Queue positions and time estimates of the jobs an answer shows. */
  estimates: JobEstimates;
  /** Wake-ups for listeners of a job's events (the hub's feeds listen to them). */
  signals: JobEventSignals;
  /** One Postgres reader per job with listeners (SSE streams, `Prefer: wait`), shared by all of them. */
  hub: EventHub;
  /** Called when the process stops: open event streams end themselves here. */
  onClose: ShutdownHooks;
  storage: ImageStorage;
  signer: ImageUrlSigner;
  logger: Logger;
  /** Authenticated API keys, forgotten at once on revocation (Redis pub/sub). */
  apiKeys: ApiKeyCache;
  metrics: ApiMetrics;
  /** The per-key cap on live event streams and `Prefer: wait` requests. */
  streamSlots: StreamSlots;
  /** The per-address limit on wrong API keys and admin tokens. */
  authFailures: AuthFailureLimiter;
  /** The per-key request limit (the tenant's `rate_limit_per_minute`). */
  keyRateLimit: KeyRateLimiter;
  /** The per-tenant limit on webhook redeliveries (`WEBHOOK_REDELIVERIES_PER_MINUTE`). */
  redeliveries: RedeliveryLimiter;
}
