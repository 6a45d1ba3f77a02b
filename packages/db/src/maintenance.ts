import type { PrismaClient } from "./client";
import { appendEvent } from "./events";
import { Prisma } from "./generated/prisma/client";
import { failQueued } from "./queue-timeout";

/** The message of a job that failed `deadline_exceeded`, the same wherever it is decided. */
export const DEADLINE_MESSAGE = "The job did not finish within its deadline_seconds.";
const DEADLINE_ERROR = { code: "deadline_exceeded", message: DEADLINE_MESSAGE, retryable: false } as const;

/**
 * Fails the job with `deadline_exceeded` when it is queued and its deadline has passed: a job the
 * claim refused for it (it never reaches the upstream), failed at once instead of at the
 * reconciler's next sweep (`failExpiredJobs`, which also fails running ones). False when the job
 * is not such a job.
 */
export async function failQueuedPastDeadline(db: PrismaClient, jobId: string): Promise<boolean> {
  return failQueued(db, jobId, DEADLINE_ERROR, Prisma.sql`"deadlineAt" < now()`);
}

/**
 * Fails every queued or running job past its deadline with `deadline_exceeded`: a queued one with
 * {@link failQueuedPastDeadline}, a running one (and its running attempts) in a transaction of its
 * own, each with its event. Returns the jobs changed, and whether each was running (its worker must
 * be told to abort).
 */
export async function failExpiredJobs(db: PrismaClient, limit = 200): Promise<{ id: string; wasRunning: boolean }[]> {
  const due = await db.job.findMany({
    where: { status: { in: ["queued", "running"] }, deadlineAt: { lt: new Date() } },
    select: { id: true, tenantId: true, status: true },
    take: limit,
  });
  const changed: { id: string; wasRunning: boolean }[] = [];
  for (const job of due) {
    if (job.status === "queued") {
      // Nothing of it runs: the one statement a worker uses when it draws such a job.
      if (await failQueuedPastDeadline(db, job.id)) changed.push({ id: job.id, wasRunning: false });
      continue;
    }
    const done = await db.$transaction(async (tx) => {
      const now = new Date();
      const updated = await tx.job.updateMany({
        where: { id: job.id, status: "running", deadlineAt: { lt: now } },
        data: {
          status: "failed",
          progressStage: "failed",
          finishedAt: now,
          errorCode: "deadline_exceeded",
          errorMessage: DEADLINE_MESSAGE,
          errorRetryable: false,
          leaseOwner: null,
          leaseExpiresAt: null,
          nextAttemptAt: null,
        },
      });
      if (updated.count === 0) return false;
      await tx.jobAttempt.updateMany({
        where: { jobId: job.id, status: "running" },
        data: {
          status: "failed",
          finishedAt: now,
          errorCode: "deadline_exceeded",
          errorClass: "stalled",
          errorMessage: DEADLINE_MESSAGE,
          retryable: false,
        },
      });
      await appendEvent(tx, {
        jobId: job.id,
        tenantId: job.tenantId,
        type: "job.failed",
        data: { error: DEADLINE_ERROR },
      });
      return true;
    });
    if (done) changed.push({ id: job.id, wasRunning: true });
  }
  return changed;
}

export interface OrphanCandidate {
  id: string;
  tenantId: string;
  status: string;
  priority: "high" | "normal" | "low";
  attemptBase: number;
  nextAttemptAt: Date | null;
  createdAt: Date;
  tenant: { weight: number; maxConcurrency: number | null };
}

/**
 * Jobs that should have work in flight: queued ones (past a short grace, so that a fresh job's own
 * enqueue is not raced) and running ones whose lease expired (their worker died).
 */
export async function findOrphanCandidates(db: PrismaClient, graceMs: number, limit = 500): Promise<OrphanCandidate[]> {
  const now = Date.now();
  return db.job.findMany({
    where: {
      OR: [
        { status: "queued", updatedAt: { lt: new Date(now - graceMs) } },
        { status: "running", leaseExpiresAt: { lt: new Date(now) } },
      ],
    },
    select: {
      id: true,
      tenantId: true,
      status: true,
      priority: true,
      attemptBase: true,
      nextAttemptAt: true,
      createdAt: true,
      tenant: { select: { weight: true, maxConcurrency: true } },
    },
    orderBy: { updatedAt: "asc" },
    take: limit,
  });
}

/**
 * Deletes terminal jobs finished before `cutoff`, with their events, attempts, deliveries and
 * images (rows cascade), in batches. `deleteFiles` removes the stored bytes first, so a crash leaves
 * rows without files (removed next run), never files without rows.
 */
export async function deleteJobsFinishedBefore(
  db: PrismaClient,
  cutoff: Date,
  deleteFiles: (storageKeys: string[]) => Promise<void>,
  batchSize = 500,
): Promise<number> {
  let total = 0;
  for (;;) {
    const batch = await db.job.findMany({
      where: { status: { in: ["succeeded", "failed", "canceled"] }, finishedAt: { lt: cutoff } },
      select: { id: true, images: { select: { storageKey: true } } },
      orderBy: { finishedAt: "asc" },
      take: batchSize,
    });
    if (batch.length === 0) return total;
    await deleteFiles(batch.flatMap((j) => j.images.map((i) => i.storageKey)));
    const deleted = await db.job.deleteMany({
      where: { id: { in: batch.map((j) => j.id) }, status: { in: ["succeeded", "failed", "canceled"] } },
    });
    total += deleted.count;
    if (batch.length < batchSize) return total;
  }
}

/**
 * Work that should have started and has not: jobs queued and due for longer than `stallMs`, when no
 * attempt at all started meanwhile. The sign of workers that stopped (design section 9), which a
 * Redis PING cannot see.
 */
export async function findStalledWork(
  db: PrismaClient,
  stallMs: number,
): Promise<{ waiting: number; lastStartedAt: Date | null } | null> {
  const since = new Date(Date.now() - stallMs);
  const waiting = await db.job.count({
    where: {
      status: "queued",
      OR: [{ nextAttemptAt: { lte: since } }, { nextAttemptAt: null, updatedAt: { lte: since } }],
    },
  });
  if (waiting === 0) return null;
  const last = await db.jobAttempt.findFirst({ orderBy: { startedAt: "desc" }, select: { startedAt: true } });
  if (last !== null && last.startedAt > since) return null;
  return { waiting, lastStartedAt: last?.startedAt ?? null };
}
