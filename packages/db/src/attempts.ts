import type { JobErrorCode, ProgressStage } from "@darkroom/domain";
import { type AttemptFacts, statusTextIs } from "./attempt-batches";
import { type PrismaClient, queryRows } from "./client";
import { insertEventsCte, insertRowEventsCte, planEvents } from "./events";
import { Prisma } from "./generated/prisma/client";

/*
 * Every transition of an attempt is ONE statement (a data-modifying CTE): no interactive
 * transaction, so no pool connection is held across round trips and none has to be free "in time".
 * Every write is fenced on (id, attempt, status = running): a worker that stalled and lost the job
 * to a newer attempt changes nothing when it wakes up. Each event commits with the change it
 * describes, and with its webhook outbox row (insertEventsCte). Lease times use the database clock.
 */

export interface ProgressInput {
  jobId: string;
  /** The attempt whose progress this is (named in its event). */
  attempt: number;
  /** The job's attempt number the write is fenced on, when it differs from `attempt` (a hedged run). */
  fence?: number;
  percent: number;
  stage: ProgressStage;
}

/**
 * Writes the progress of many attempts (each with its event and, when subscribed, its outbox row)
 * in one statement. Returns the job ids whose attempt still owns the job; the others were fenced out.
 */
export async function writeProgressBatch(db: PrismaClient, inputs: ProgressInput[]): Promise<Set<string>> {
  if (inputs.length === 0) return new Set();
  const ordered = [...inputs].sort((a, b) => (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0));
  const events = planEvents(ordered.map(() => ({ type: "job.progress" as const, data: {} })));
  const rows = await queryRows<{ id: string }[]>(
    db,
    Prisma.sql`
    WITH v AS (
      SELECT * FROM unnest(${ordered.map((p) => p.jobId)}::text[], ${ordered.map((p) => p.attempt)}::int[],
        ${ordered.map((p) => p.fence ?? p.attempt)}::int[],
        ${ordered.map((p) => p.percent)}::int[], ${ordered.map((p) => p.stage)}::text[],
        ${events.map((e) => e.id)}::text[], ${events.map((e) => e.deliveryId)}::text[])
        AS v(id, attempt, fence, percent, stage, evt, whd)),
    u AS (
      UPDATE "Job" j SET "progressPercent" = v.percent, "progressStage" = v.stage, "updatedAt" = now()
      FROM v WHERE j.id = v.id AND j.attempt = v.fence AND ${statusTextIs("j.status", "running")}
      RETURNING j.id, j."tenantId", j."webhookUrl", j."webhookEvents", v.evt, v.whd,
        jsonb_build_object('attempt', v.attempt, 'percent', v.percent, 'stage', v.stage) AS data),
    ${insertRowEventsCte("u", "job.progress")}
    SELECT id FROM u`,
  );
  return new Set(rows.map((r) => r.id));
}

/**
 * Extends the leases of many attempts by `leaseMs` from now (database clock) in one statement.
 * Returns the job ids still owned; the others were fenced out.
 */
export async function renewLeases(
  db: PrismaClient,
  leases: { jobId: string; attempt: number }[],
  leaseMs: number,
): Promise<Set<string>> {
  if (leases.length === 0) return new Set();
  const rows = await queryRows<{ id: string }[]>(
    db,
    Prisma.sql`
    UPDATE "Job" j SET "leaseExpiresAt" = now() + make_interval(secs => ${leaseMs / 1000})
    FROM unnest(${leases.map((l) => l.jobId)}::text[], ${leases.map((l) => l.attempt)}::int[]) AS v(id, attempt)
    WHERE j.id = v.id AND j.attempt = v.attempt AND ${statusTextIs("j.status", "running")}
    RETURNING j.id`,
  );
  return new Set(rows.map((r) => r.id));
}

/**
 * Records when the upstream's response began for attempts whose ending statement did not (a call
 * canceled or aborted by the other of a hedged run, one whose job moved on meanwhile). Not fenced
 * on the attempt's status: it is a fact about a call that happened, true whatever became of the
 * attempt; an attempt that has its time keeps it.
 */
export async function recordTimesToFirstByte(
  db: PrismaClient,
  jobId: string,
  times: { attempt: number; ms: number }[],
): Promise<void> {
  if (times.length === 0) return;
  await db.$executeRaw`
    UPDATE "JobAttempt" a SET "timeToFirstByteMs" = v.ms
    FROM unnest(${times.map((t) => t.attempt)}::int[], ${times.map((t) => t.ms)}::int[]) AS v(number, ms)
    WHERE a."jobId" = ${jobId} AND a.number = v.number AND a."timeToFirstByteMs" IS NULL`;
}

/** SET items for the attempt facts given (an absent fact keeps its column). */
function attemptFactsSql(facts: AttemptFacts): Prisma.Sql {
  const items: Prisma.Sql[] = [];
  if (facts.upstreamRequestId !== undefined) items.push(Prisma.sql`"upstreamRequestId" = ${facts.upstreamRequestId}`);
  if (facts.timeToFirstByteMs !== undefined) {
    items.push(Prisma.sql`"timeToFirstByteMs" = ${facts.timeToFirstByteMs}::int`);
  }
  if (facts.httpStatus !== undefined) items.push(Prisma.sql`"httpStatus" = ${facts.httpStatus}::int`);
  return items.length === 0 ? Prisma.empty : Prisma.sql`, ${Prisma.join(items, ", ")}`;
}

export interface StartHedgeInput {
  jobId: string;
  /** The running attempt (the primary's), which the hedge is fenced on. */
  attempt: number;
  /** The fallback model the hedge calls. */
  model: string;
}

/**
 * Starts the hedge of a running attempt (hedged fallback): the job moves to the next attempt number
 * and to its fallback, and the hedge's attempt is recorded (`hedge`) with its `job.started` event,
 * while the primary's attempt stays running. The two then share the job's attempt fence (the
 * hedge's number) until one wins. Null when the primary no longer owns the job.
 */
export async function startHedge(db: PrismaClient, input: StartHedgeInput): Promise<number | null> {
  const hedge = input.attempt + 1;
  const events = planEvents([{ type: "job.started", data: { attempt: hedge, model: input.model, hedge: true } }]);
  const rows = await db.$queryRaw<{ id: string }[]>`
    WITH u AS (
      UPDATE "Job" SET attempt = ${hedge}::int, "fallbackUsed" = true, "updatedAt" = now()
      WHERE id = ${input.jobId} AND attempt = ${input.attempt}::int AND status = 'running'::"JobStatus"
      RETURNING id, "tenantId", "webhookUrl", "webhookEvents"),
    a AS (
      INSERT INTO "JobAttempt" (id, "jobId", number, model, status, hedge)
      SELECT 'att_' || substr(u.id, 5) || '_' || ${hedge}::int, u.id, ${hedge}::int, ${input.model}, 'running', true
      FROM u),
    ${insertEventsCte("u", events)}
    SELECT id FROM u`;
  return rows.length === 1 ? hedge : null;
}

export interface AttemptErrorInput {
  code: JobErrorCode;
  /** Darkroom's own words: shown to the tenant (job view, events, webhooks). */
  message: string;
  retryable: boolean;
  errorClass: string | null;
  /** What the upstream said, kept on the attempt for operators only. */
  upstreamDetail?: string | null;
}

/** What an attempt that failed shows about its stream, for diagnosis. */
export interface AttemptDiagnosis {
  /** The stage its progress last showed. */
  lastStage?: string | null;
  /** upstream_stalled: how long the progress had stood when the stream was abandoned. */
  progressStoodMs?: number | null;
  /** The first 2 KiB of a stream whose progress was not recognised. */
  streamHead?: string | null;
}

export interface FailAttemptInput {
  jobId: string;
  attempt: number;
  /** The job's current attempt number, when it differs from `attempt` (a hedged run: see CompleteInput). */
  fence?: number;
  error: AttemptErrorInput;
  facts: AttemptFacts;
  /** When set, the job goes back to queued for another attempt at this time; otherwise it fails. */
  retryAt: Date | null;
  /** The next attempts use the fallback model. */
  switchToFallback?: boolean;
  /** The attempt's last progress percent (written once, here, rather than with every progress write). */
  lastProgress?: number | null;
  diagnosis?: AttemptDiagnosis;
}

/** Records a failed attempt and either schedules the next one or fails the job; false when fenced out. */
export async function failAttempt(db: PrismaClient, input: FailAttemptInput): Promise<boolean> {
  const final = input.retryAt === null;
  const error = { code: input.error.code, message: input.error.message, retryable: input.error.retryable };
  const events = planEvents([
    {
      type: "job.attempt_failed",
      data: { attempt: input.attempt, error, next_attempt_at: input.retryAt?.toISOString() ?? null },
    },
    ...(final
      ? [{ type: "job.failed" as const, data: { error } }]
      : input.switchToFallback === true
        ? [{ type: "job.fallback" as const, data: { after_attempt: input.attempt, reason: input.error.code } }]
        : []),
  ]);
  const jobSet = final
    ? Prisma.sql`status = 'failed'::"JobStatus", "progressStage" = 'failed', "finishedAt" = now(), "errorCode" = ${input.error.code},
        "errorMessage" = ${input.error.message}, "errorRetryable" = ${input.error.retryable}`
    : Prisma.sql`status = 'queued'::"JobStatus", "nextAttemptAt" = ${input.retryAt}::timestamptz,
        "progressStage" = 'queued'${input.switchToFallback === true ? Prisma.sql`, "fallbackUsed" = true` : Prisma.empty}`;
  const rows = await db.$queryRaw<{ id: string }[]>`
    WITH u AS (
      UPDATE "Job" SET ${jobSet}, "leaseOwner" = NULL, "leaseExpiresAt" = NULL, "updatedAt" = now()
      WHERE id = ${input.jobId} AND attempt = ${input.fence ?? input.attempt}::int AND status = 'running'::"JobStatus"
      RETURNING id, "tenantId", "webhookUrl", "webhookEvents"),
    a AS (${failedAttemptSql(input)}),
    -- A hedged run's other call, still running when the run's own signal (the deadline) took both
    -- down: it ends with the run, with the same error. No attempt of a job outlives its run.
    o AS (
      UPDATE "JobAttempt" SET status = 'failed', "finishedAt" = now(), "errorCode" = ${input.error.code},
        "errorClass" = ${input.error.errorClass}, "errorMessage" = ${input.error.message},
        retryable = ${input.error.retryable}
      WHERE "jobId" IN (SELECT id FROM u) AND number <> ${input.attempt}::int AND status = 'running'),
    ${insertEventsCte("u", events)}
    SELECT id FROM u`;
  return rows.length === 1;
}

/** The failed attempt's row (`input.attempt`), written when the job row `u` was. */
function failedAttemptSql(input: Omit<FailAttemptInput, "retryAt">): Prisma.Sql {
  return Prisma.sql`
      UPDATE "JobAttempt" SET status = 'failed', "finishedAt" = now(), "errorCode" = ${input.error.code},
        "errorClass" = ${input.error.errorClass}, "errorMessage" = ${input.error.message},
        retryable = ${input.error.retryable},
        "lastProgress" = COALESCE(${input.lastProgress ?? null}::int, "lastProgress"),
        "upstreamDetail" = ${input.error.upstreamDetail ?? null}, "lastStage" = ${input.diagnosis?.lastStage ?? null},
        "progressStoodMs" = ${input.diagnosis?.progressStoodMs ?? null}::int,
        "streamHead" = ${input.diagnosis?.streamHead ?? null}
        ${attemptFactsSql(input.facts)}
      WHERE "jobId" IN (SELECT id FROM u) AND number = ${input.attempt}::int`;
}

/**
 * Records the failure of one call of a hedged run while the other still runs: the attempt ends
 * `failed` (with its `job.attempt_failed` event, `next_attempt_at` null and the attempt still
 * running named), the job stays running on the other. False when the run no longer owns the job.
 */
export async function failHedgedAttempt(
  db: PrismaClient,
  input: Omit<FailAttemptInput, "retryAt" | "switchToFallback"> & { fence: number; stillRunning: number },
): Promise<boolean> {
  const error = { code: input.error.code, message: input.error.message, retryable: input.error.retryable };
  const events = planEvents([
    {
      type: "job.attempt_failed",
      data: { attempt: input.attempt, error, next_attempt_at: null, still_running: input.stillRunning },
    },
  ]);
  const rows = await db.$queryRaw<{ id: string }[]>`
    WITH u AS (
      SELECT id, "tenantId", "webhookUrl", "webhookEvents" FROM "Job"
      WHERE id = ${input.jobId} AND attempt = ${input.fence}::int AND status = 'running'::"JobStatus"
      FOR NO KEY UPDATE),
    a AS (${failedAttemptSql(input)}),
    ${insertEventsCte("u", events)}
    SELECT id FROM u`;
  return rows.length === 1;
}

/** Why an attempt was given back without counting: the worker stopping, or a paused upstream. */
export interface ReleaseReason {
  code: "internal" | "upstream_quota";
  errorClass: string;
  message: string;
}

const WORKER_STOPPED: ReleaseReason = {
  code: "internal",
  errorClass: "interrupted",
  message: "The worker stopped during this attempt; the job went back to the queue.",
};

/**
 * Gives a job back to the queue when its worker stops mid-attempt (or the upstream's quota ran out
 * and generation paused): the attempt ends as `interrupted` (which does not count against
 * max_attempts). Fenced like every attempt write.
 */
export async function releaseJob(
  db: PrismaClient,
  jobId: string,
  attempt: number,
  lastProgress: number | null = null,
  reason: ReleaseReason = WORKER_STOPPED,
): Promise<boolean> {
  // `attempt` is the job's current number; a hedged run's two running attempts both end here.
  const now = new Date();
  const { message } = reason;
  const events = planEvents([
    {
      type: "job.attempt_failed",
      data: {
        attempt,
        interrupted: true,
        error: { code: reason.code, message, retryable: true },
        next_attempt_at: now.toISOString(),
      },
    },
  ]);
  const rows = await db.$queryRaw<{ id: string }[]>`
    WITH u AS (
      UPDATE "Job" SET status = 'queued'::"JobStatus", "progressStage" = 'queued', "nextAttemptAt" = ${now}::timestamptz,
        "leaseOwner" = NULL, "leaseExpiresAt" = NULL, "updatedAt" = now()
      WHERE id = ${jobId} AND attempt = ${attempt}::int AND status = 'running'::"JobStatus"
      RETURNING id, "tenantId", "webhookUrl", "webhookEvents"),
    a AS (
      UPDATE "JobAttempt" SET status = 'interrupted', "finishedAt" = now(), "errorClass" = ${reason.errorClass},
        "errorCode" = ${reason.code === "internal" ? null : reason.code},
        "errorMessage" = ${message}, "lastProgress" = COALESCE(${lastProgress}::int, "lastProgress")
      WHERE "jobId" IN (SELECT id FROM u) AND status = 'running'),
    ${insertEventsCte("u", events)}
    SELECT id FROM u`;
  return rows.length === 1;
}
