import type { DbClient } from "./client";
import { Prisma } from "./generated/prisma/client";
import type { JobRecord } from "./jobs";

type Attempt = JobRecord["attempts"][number];

/** Job columns that are dates (`to_jsonb` writes them as ISO strings). */
const JOB_DATES = new Set([
  "deadlineAt",
  "queueExpiresAt",
  "leaseExpiresAt",
  "nextAttemptAt",
  "createdAt",
  "startedAt",
  "finishedAt",
  "updatedAt",
]);
const ATTEMPT_DATES = new Set(["startedAt", "finishedAt"]);

/** The snapshots of these events (JobEventSnapshot), by event id; events without one are left out. */
export async function findEventSnapshots(db: DbClient, eventIds: string[]): Promise<Map<string, unknown>> {
  if (eventIds.length === 0) return new Map();
  const rows = await db.jobEventSnapshot.findMany({ where: { eventId: { in: eventIds } } });
  return new Map(rows.map((r) => [r.eventId, r.job]));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function toDate(value: unknown): Date | null {
  return typeof value === "string" ? new Date(value) : null;
}

/** Copies the snapshot's values of the record's own keys, dates and decimals restored. */
function overlay<T extends object>(record: T, snapshot: Record<string, unknown>, dates: Set<string>): T {
  const out: Record<string, unknown> = { ...(record as Record<string, unknown>) };
  for (const [key, value] of Object.entries(snapshot)) {
    if (!(key in out) || key === "attempts" || key === "images") continue;
    if (dates.has(key)) out[key] = toDate(value);
    else if (key === "costUsd") out[key] = typeof value === "number" ? new Prisma.Decimal(value) : null;
    else out[key] = value;
  }
  return out as T;
}

/**
 * The job as it stood at an event: its current record with the status, progress, attempts, result
 * and times of the event's snapshot (what a database trigger wrote at the end of the event's
 * statement). What a snapshot does not hold (prompt, metadata, images) cannot have changed since
 * the event, except images, which only a succeeded job shows (and a succeeded job never changes
 * again). Without a snapshot it is the job as it is now: `job.succeeded` has none (the job it
 * ends never changes again; only `job.failed`, `job.canceled` and first webhook deliveries are
 * snapshotted), nor have events written before snapshots existed; a malformed one counts as none.
 */
export function jobAsOf(job: JobRecord, snapshot: unknown): JobRecord {
  if (!isObject(snapshot) || !Array.isArray(snapshot.attempts)) return job;
  const blank: Attempt = {
    id: "",
    jobId: job.id,
    number: 0,
    model: job.model,
    status: "running",
    errorCode: null,
    errorClass: null,
    errorMessage: null,
    retryable: null,
    httpStatus: null,
    upstreamRequestId: null,
    timeToFirstByteMs: null,
    lastProgress: null,
    lastStage: null,
    progressStoodMs: null,
    upstreamDetail: null,
    streamHead: null,
    skipped: null,
    hedge: false,
    startedAt: job.createdAt,
    finishedAt: null,
  };
  const attempts = snapshot.attempts.filter(isObject).map((a) => overlay(blank, a, ATTEMPT_DATES));
  return { ...overlay(job, snapshot, JOB_DATES), attempts };
}
