import { type PrismaClient, queryRows } from "./client";
import { insertRowEventsCte, planEvents } from "./events";
import { Prisma } from "./generated/prisma/client";

/*
 * The two transitions every attempt makes, claim (queued -> running) and completion (running ->
 * succeeded), for MANY jobs in ONE statement: a worker's processor claims and finishes dozens of
 * jobs in the same few milliseconds, and a statement per job cost each job two commits and two
 * round trips (the worker's CallBatcher gathers them). Each row of a batch is fenced on its own
 * (id, attempt, status = running), exactly as a statement of its own would be: a row fenced out
 * is refused alone, the others go on. Each job's event and webhook outbox row commit with its
 * change, in the same statement. Lease times use the database clock.
 */

export interface ClaimInput {
  jobId: string;
  leaseOwner: string;
  leaseMs: number;
  /**
   * Models whose circuit is open (circuit breaker): an attempt that would call one of them goes to
   * the job's fallback instead when it has one ahead (the job switches to it), recorded with
   * `skipped = 'circuit_open'`.
   */
  circuitOpen?: readonly string[];
}

/** What the claims of one batch share: the worker that claims, and what it knows of the circuits. */
export type ClaimBatchOptions = Omit<ClaimInput, "jobId">;

/** Why an attempt did not call the model it would have: its circuit was open. */
export type AttemptSkip = "circuit_open";

/** An earlier attempt of the job, as the retry policy reads it. */
export interface ClaimedAttempt {
  number: number;
  model: string;
  errorClass: string | null;
}

/** What an attempt needs of its job: returned by the claim, nothing re-read. */
export interface ClaimedJob {
  id: string;
  tenantId: string;
  status: string;
  model: string;
  fallbackModel: string | null;
  fallbackUsed: boolean;
  prompt: string;
  n: number;
  size: string;
  quality: string;
  maxAttempts: number;
  attemptBase: number;
  deadlineAt: Date;
  /** Hedged fallback: start the fallback alongside a primary without progress this long; null: no hedge. */
  hedgeAfterSeconds: number | null;
  /** Every attempt of the job, this one included, by number. */
  attempts: ClaimedAttempt[];
}

export interface Claim {
  job: ClaimedJob;
  attempt: number;
  model: string;
  /** Set when the attempt went to the fallback because the primary's circuit was open. */
  skipped: AttemptSkip | null;
}

/**
 * Sorted and without repeats: batches meet their rows in id order, as the progress batch does, so
 * that two of them do not wait on each other (should one still deadlock, the batcher retries its
 * calls one by one).
 */
function distinctSorted(ids: readonly string[]): string[] {
  return [...new Set(ids)].sort();
}

/**
 * Claims one job: {@link claimJobs} with one id. Null when the job is not claimable, which includes
 * a queued job whose start-by (`queue_timeout_seconds`) passed before its run started.
 */
export async function claimJob(db: PrismaClient, input: ClaimInput): Promise<Claim | null> {
  const { jobId, ...options } = input;
  return (await claimJobs(db, [jobId], options)).get(jobId) ?? null;
}

/**
 * `<column> = '<status>'` for the batch statements (claims, completions, progress, leases), with the
 * status compared as text so that no status index can serve them: they reach their jobs by id alone.
 * Compared as the enum, the planner, working from statistics taken before a burst of new jobs (it
 * believes almost none are queued or running), scanned a status index and rechecked every job of
 * that status, and the index's dead entries, for each batch of a few rows: a claim's cost grew with
 * the backlog (1.4 ms for one job with 3,000 queued, in the bench's drain). Looked up by id, a batch
 * costs what its rows cost.
 */
export function statusTextIs(column: string, status: "queued" | "running"): Prisma.Sql {
  return Prisma.raw(`${column}::text = '${status}'`);
}

/**
 * Moves each queued job of `jobIds` to running as attempt n+1 and records the attempt (on the
 * fallback model once the job switched to it, else the primary); a running job whose lease expired
 * (its worker died) is taken over the same way, its attempt ending as interrupted. Returns the
 * claims by job id; a job missing from the map was not claimable (terminal, owned by a live
 * attempt, past its start-by: failQueueTimeout fails it; or past its deadline:
 * failQueuedPastDeadline). An attempt that would call a model of
 * `circuitOpen` while the job has its fallback ahead is made on the fallback (the job switches to
 * it, as after a failure) and marked skipped.
 *
 * Its attempts (and the completion's other attempts) are read only for a job past its first
 * attempt, whatever plan the prepared statement keeps: a worker prepares it once per pooled
 * connection, and when the tables were nearly empty then (a new deployment; a database whose
 * statistics were taken empty, as the benchmark's VACUUM ANALYZE before a drain does, with no
 * autovacuum to update them) that plan scans them whole, once per claimed job. In a drain of 10,000
 * jobs (`auto_explain`) each such scan took up to 1.6 ms by its end, and the claim was Postgres's
 * costliest statement.
 */
export async function claimJobs(
  db: PrismaClient,
  jobIds: readonly string[],
  options: ClaimBatchOptions,
): Promise<Map<string, Claim>> {
  const ids = distinctSorted(jobIds);
  if (ids.length === 0) return new Map();
  const events = planEvents(ids.map(() => ({ type: "job.started" as const, data: {} })));
  const v = Prisma.sql`unnest(${ids}::text[], ${events.map((e) => e.id)}::text[], ${events.map((e) => e.deliveryId)}::text[])
    AS v(id, evt, whd)`;
  const open = options.circuitOpen ?? [];
  // Whether each attempt skips to the fallback. With no open circuit (the usual case) nothing is
  // read; else the rows are locked first, so the skip is decided on the row the update changes
  // (not an older version).
  const skipSql =
    open.length === 0
      ? Prisma.sql`SELECT v.id, false AS skip, v.evt, v.whd FROM ${v}`
      : Prisma.sql`SELECT j.id, NOT j."fallbackUsed" AND j."fallbackModel" IS NOT NULL AND j."fallbackModel" <> j.model
          AND j.model = ANY(${[...open]}::text[]) AS skip, v.evt, v.whd
        FROM "Job" j JOIN ${v} ON j.id = v.id ORDER BY j.id FOR NO KEY UPDATE OF j`;
  const rows = await queryRows<
    (Omit<ClaimedJob, "attempts"> & {
      attempt: number;
      attemptModel: string;
      skipped: boolean;
      attempts: ClaimedAttempt[];
    })[]
  >(
    db,
    Prisma.sql`
    WITH p AS (${skipSql}),
    c AS (
      UPDATE "Job" SET status = 'running'::"JobStatus", attempt = attempt + 1,
        "fallbackUsed" = "fallbackUsed" OR p.skip,
        "startedAt" = COALESCE("startedAt", now()), "progressStage" = 'starting',
        "leaseOwner" = ${options.leaseOwner}, "leaseExpiresAt" = now() + make_interval(secs => ${options.leaseMs / 1000}),
        "nextAttemptAt" = NULL, "updatedAt" = now()
      FROM p
      WHERE "Job".id = p.id AND ((${statusTextIs("status", "queued")}
          -- A run not started by its start-by never starts: failQueueTimeout fails it instead.
          AND NOT (attempt = "attemptBase" AND "queueExpiresAt" IS NOT NULL AND "queueExpiresAt" < now()))
        OR (${statusTextIs("status", "running")} AND "leaseExpiresAt" < now()))
        -- Nor does a job past its deadline (failQueuedPastDeadline, the reconciler's failExpiredJobs).
        AND "deadlineAt" > now()
      RETURNING "Job".id, "tenantId", status::text AS status, attempt, model, "fallbackModel", "fallbackUsed", prompt,
        n, size, quality, "maxAttempts", "attemptBase", "deadlineAt", "webhookUrl", "webhookEvents", "progressPercent",
        "hedgeAfterSeconds", CASE WHEN "fallbackUsed" AND "fallbackModel" IS NOT NULL THEN "fallbackModel" ELSE model END AS "attemptModel",
        p.skip AS skipped, p.evt, p.whd),
    i AS (
      UPDATE "JobAttempt" a SET status = 'interrupted', "finishedAt" = now(), "errorClass" = 'interrupted',
        "errorMessage" = 'The worker stopped during this attempt.',
        -- Its progress was written to the job row only (attempts get theirs when they end).
        "lastProgress" = COALESCE(a."lastProgress", c."progressPercent")
      -- Only a job on a later attempt can have one running. The uncorrelated EXISTS is a one-time
      -- filter, evaluated before the scan: a batch of first claims does not read the table at all.
      FROM c WHERE EXISTS (SELECT 1 FROM c WHERE c.attempt > 1)
        AND a."jobId" = c.id AND a.status = 'running'
      RETURNING a."jobId", a.number),
    a AS (
      INSERT INTO "JobAttempt" (id, "jobId", number, model, status, skipped)
      SELECT 'att_' || substr(c.id, 5) || '_' || c.attempt, c.id, c.attempt, c."attemptModel", 'running',
        CASE WHEN c.skipped THEN 'circuit_open' END FROM c),
    s AS (
      SELECT c.id, c."tenantId", c."webhookUrl", c."webhookEvents", c.evt, c.whd,
        jsonb_build_object('attempt', c.attempt, 'model', c."attemptModel")
          || CASE WHEN c.skipped THEN jsonb_build_object('skipped', 'circuit_open') ELSE '{}'::jsonb END AS data
      FROM c),
    ${insertRowEventsCte("s", "job.started")}
    SELECT c.id, c."tenantId", c.status, c.attempt, c.model, c."fallbackModel", c."fallbackUsed", c.prompt, c.n,
      c.size, c.quality, c."maxAttempts", c."attemptBase", c."deadlineAt", c."hedgeAfterSeconds", c."attemptModel", c.skipped,
      -- A first attempt has none before it: its job's attempts are not read at all.
      CASE WHEN c.attempt > 1 THEN COALESCE((SELECT json_agg(json_build_object('number', x.number, 'model', x.model,
        'errorClass', CASE WHEN EXISTS (SELECT 1 FROM i WHERE i."jobId" = x."jobId" AND i.number = x.number)
          THEN 'interrupted' ELSE x."errorClass" END)
        ORDER BY x.number) FROM "JobAttempt" x WHERE x."jobId" = c.id), '[]'::json) ELSE '[]'::json END AS attempts
    FROM c`,
  );
  const claims = new Map<string, Claim>();
  for (const row of rows) {
    const { attemptModel, attempt, attempts, skipped, ...job } = row;
    // The statement's own insert is not visible to its SELECT: the new attempt is added here.
    const all = [
      ...attempts.filter((a) => a.number !== attempt),
      { number: attempt, model: attemptModel, errorClass: null },
    ];
    claims.set(job.id, {
      job: { ...job, attempts: all },
      attempt,
      model: attemptModel,
      skipped: skipped ? "circuit_open" : null,
    });
  }
  return claims;
}

export interface AttemptFacts {
  upstreamRequestId?: string | null;
  timeToFirstByteMs?: number | null;
  httpStatus?: number | null;
}

export interface StoredImageInput {
  index: number;
  storageKey: string;
  contentType: string;
  bytes: number;
  sha256: string;
  width: number | null;
  height: number | null;
  sourceUrl: string | null;
}

export interface CompleteInput {
  jobId: string;
  /** The attempt whose result this is. */
  attempt: number;
  /**
   * The job's current attempt number, which the write is fenced on: the same as `attempt`, except
   * in a hedged run, where the hedge took the next number while the primary ran on.
   */
  fence?: number;
  model: string;
  images: StoredImageInput[];
  usage: unknown;
  /** Estimated cost of the images (MODEL_PRICES of `model` times their number), in micro-dollars. */
  costMicroUsd: number;
  facts: AttemptFacts;
}

/** Marks the job succeeded with its stored images ({@link completeJobs} with one); false when fenced out. */
export async function completeJob(db: PrismaClient, input: CompleteInput): Promise<boolean> {
  return (await completeJobs(db, [input])).has(input.jobId);
}

/** The words on the attempt of a hedged run that lost the race. */
const HEDGE_LOST_MESSAGE = "The other attempt of this hedged run returned a result first; this call was aborted.";

/**
 * Marks each job succeeded with its stored images, in one statement; returns the job ids whose
 * attempt still owned the job (the others were fenced out and nothing of theirs was written). One
 * completion per job: a job given twice is refused.
 */
export async function completeJobs(db: PrismaClient, inputs: readonly CompleteInput[]): Promise<Set<string>> {
  if (inputs.length === 0) return new Set();
  const ids = inputs.map((i) => i.jobId);
  if (new Set(ids).size !== ids.length) throw new Error("completeJobs: a job is given twice");
  const ordered = [...inputs].sort((a, b) => (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0));
  const events = planEvents(
    ordered.map((input) => ({
      type: "job.succeeded" as const,
      data: { attempt: input.attempt, model: input.model, images: input.images.length },
    })),
  );
  const images = ordered.flatMap((input) => input.images.map((image) => ({ jobId: input.jobId, ...image })));
  const rows = await queryRows<{ id: string }[]>(
    db,
    Prisma.sql`
    WITH v AS (
      SELECT * FROM unnest(${ordered.map((i) => i.jobId)}::text[], ${ordered.map((i) => i.attempt)}::int[],
        ${ordered.map((i) => i.fence ?? i.attempt)}::int[], ${ordered.map((i) => i.model)}::text[],
        ${ordered.map((i) => (i.usage === null || i.usage === undefined ? null : JSON.stringify(i.usage)))}::jsonb[],
        ${ordered.map((i) => i.images.length)}::int[],
        ${ordered.map((i) => (i.costMicroUsd / 1_000_000).toFixed(6))}::numeric[],
        -- An absent fact keeps its column; a null one clears it.
        ${ordered.map((i) => JSON.stringify(i.facts))}::jsonb[],
        ${events.map((e) => e.id)}::text[], ${events.map((e) => e.deliveryId)}::text[],
        ${events.map((e) => JSON.stringify(e.data))}::jsonb[])
        AS v(id, attempt, fence, model, usage, images, cost, facts, evt, whd, data)),
    u AS (
      UPDATE "Job" j SET status = 'succeeded'::"JobStatus", "progressPercent" = 100, "progressStage" = 'done',
        "resultModel" = v.model, usage = COALESCE(v.usage, j.usage),
        -- Written with the result, so usage figures and budgets can never see one without the other.
        "imagesStored" = v.images, "costUsd" = v.cost,
        "finishedAt" = now(), "leaseOwner" = NULL, "leaseExpiresAt" = NULL,
        "errorCode" = NULL, "errorMessage" = NULL, "errorRetryable" = NULL, "updatedAt" = now()
      FROM v WHERE j.id = v.id AND j.attempt = v.fence AND ${statusTextIs("j.status", "running")}
      RETURNING j.id, j."tenantId", j."webhookUrl", j."webhookEvents", v.attempt, v.fence, v.facts, v.evt, v.whd, v.data),
    x AS (
      SELECT * FROM unnest(${images.map((i) => i.jobId)}::text[], ${images.map((i) => i.index)}::int[],
        ${images.map((i) => i.storageKey)}::text[], ${images.map((i) => i.contentType)}::text[],
        ${images.map((i) => i.bytes)}::int[], ${images.map((i) => i.sha256)}::text[],
        ${images.map((i) => i.width)}::int[], ${images.map((i) => i.height)}::int[],
        ${images.map((i) => i.sourceUrl)}::text[])
        AS x(job, index, key, ct, bytes, sha, w, h, src)),
    -- A job's images are written once, by the completion that makes it succeeded (nothing takes a job
    -- out of succeeded): there are none to replace. The conflict clause keeps a row sent again harmless.
    im AS (
      INSERT INTO "Image" (id, "jobId", index, "storageKey", "contentType", bytes, sha256, width, height, "sourceUrl")
      SELECT 'img_' || substr(u.id, 5) || '_' || x.index, u.id, x.index, x.key, x.ct, x.bytes, x.sha, x.w, x.h, x.src
      FROM u JOIN x ON x.job = u.id
      ON CONFLICT ("jobId", index) DO UPDATE SET "storageKey" = excluded."storageKey",
        "contentType" = excluded."contentType", bytes = excluded.bytes, sha256 = excluded.sha256,
        width = excluded.width, height = excluded.height, "sourceUrl" = excluded."sourceUrl"),
    a AS (
      UPDATE "JobAttempt" t SET status = 'succeeded', "finishedAt" = now(), "lastProgress" = 100,
        "upstreamRequestId" = CASE WHEN u.facts ? 'upstreamRequestId' THEN u.facts->>'upstreamRequestId'
          ELSE t."upstreamRequestId" END,
        "timeToFirstByteMs" = CASE WHEN u.facts ? 'timeToFirstByteMs' THEN (u.facts->>'timeToFirstByteMs')::int
          ELSE t."timeToFirstByteMs" END,
        "httpStatus" = CASE WHEN u.facts ? 'httpStatus' THEN (u.facts->>'httpStatus')::int ELSE t."httpStatus" END
      FROM u WHERE t."jobId" = u.id AND t.number = u.attempt),
    -- A hedged run's other call, still running: it lost the race and is aborted.
    lost AS (
      UPDATE "JobAttempt" t SET status = 'canceled', "finishedAt" = now(), "errorClass" = 'hedge_lost',
        "errorMessage" = ${HEDGE_LOST_MESSAGE}
      -- Only a job past its first attempt number can have another call: a one-time filter, as in
      -- claimJobs, so that a batch of first attempts does not read the table for it.
      FROM u WHERE EXISTS (SELECT 1 FROM u WHERE u.fence > 1)
        AND t."jobId" = u.id AND t.number <> u.attempt AND t.status = 'running'),
    ${insertRowEventsCte("u", "job.succeeded")}
    SELECT id FROM u`,
  );
  return new Set(rows.map((r) => r.id));
}
