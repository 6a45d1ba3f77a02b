import type { JobRecord, LiveProgress, PrismaClient } from "@darkroom/db";
import { isTerminal } from "@darkroom/domain";
import type { Logger } from "@darkroom/logger";
import { type FairIntake, type QueuePlace, workIdOf } from "@darkroom/queue";

/** How many recent successes of a model its estimate is the median of. */
const SAMPLE = 50;
/** Recent enough to say something about today's upstream. */
const WINDOW_HOURS = 24;
/** An estimate is reused this long per process. */
const CACHE_MS = 10_000;

/**
 * `progress.queue_position` and `progress.eta_seconds` of the jobs an answer shows: positions from
 * the tenants' intakes in Redis, durations from the median of the model's recent successes in
 * Postgres (cached). Estimates only: null whenever something they need is unknown.
 */
export class JobEstimates {
  private readonly medians = new Map<string, { seconds: number | null; at: number }>();

  constructor(
    private readonly db: PrismaClient,
    private readonly intake: FairIntake,
    private readonly logger: Logger,
  ) {}

  /** Median seconds of the model's recent successful jobs (start to finish); null without history. */
  private async medianSeconds(model: string): Promise<number | null> {
    const cached = this.medians.get(model);
    if (cached !== undefined && Date.now() - cached.at < CACHE_MS) return cached.seconds;
    const rows = await this.db.$queryRaw<{ median: number | null }[]>`
      SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS median FROM (
        SELECT EXTRACT(EPOCH FROM ("finishedAt" - "startedAt"))::float8 AS seconds FROM "Job"
        WHERE status = 'succeeded'::"JobStatus" AND "resultModel" = ${model} AND "startedAt" IS NOT NULL
          AND "finishedAt" > now() - make_interval(hours => ${WINDOW_HOURS})
        ORDER BY "finishedAt" DESC LIMIT ${SAMPLE}) recent`;
    const seconds = rows[0]?.median ?? null;
    this.medians.set(model, { seconds, at: Date.now() });
    return seconds;
  }

  /** The live progress of each job, by id (terminal jobs get none). */
  async of(jobs: JobRecord[]): Promise<Map<string, LiveProgress>> {
    const out = new Map<string, LiveProgress>();
    const open = jobs.filter((job) => !isTerminal(job.status));
    if (open.length === 0) return out;
    const queued = open.filter((job) => job.status === "queued");
    let places: Awaited<ReturnType<FairIntake["places"]>> = [];
    try {
      places = await this.intake.places(queued.map((job) => workIdOf(job.id, job.attemptBase)));
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, "queue positions unavailable (Redis)");
    }
    const placeOf = new Map(queued.map((job, i) => [job.id, places[i]]));
    const now = Date.now();
    for (const job of open) out.set(job.id, await this.estimate(job, placeOf.get(job.id), now));
    return out;
  }

  /** The live progress of a job just queued, whose place the enqueue itself told (no further Redis call). */
  async ofPlaced(job: JobRecord, place: QueuePlace | undefined): Promise<LiveProgress> {
    return this.estimate(job, place, Date.now());
  }

  private async estimate(job: JobRecord, place: QueuePlace | undefined, now: number): Promise<LiveProgress> {
    const model = job.attempts.at(-1)?.model ?? job.model;
    const median = await this.medianSeconds(model).catch(() => null);
    if (job.status === "running") {
      const started = job.attempts.at(-1)?.startedAt ?? job.startedAt ?? new Date(now);
      const eta = median === null ? null : Math.max(0, Math.ceil(median - (now - started.getTime()) / 1000));
      return { queuePosition: null, etaSeconds: eta };
    }
    let eta: number | null = null;
    if (median !== null && place !== undefined) {
      if (place.state === "retry_wait" && job.nextAttemptAt !== null) {
        eta = Math.ceil(Math.max(0, job.nextAttemptAt.getTime() - now) / 1000 + median);
      } else if (place.position !== null) {
        // The tenant's running jobs are its lanes: position p starts after ceil(p / lanes) - 1 rounds.
        const lanes = Math.max(1, place.tenantRunning);
        eta = Math.ceil(Math.ceil(place.position / lanes) * median);
      }
    }
    return { queuePosition: place?.position ?? null, etaSeconds: eta };
  }
}
