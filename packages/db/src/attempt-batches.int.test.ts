import { JobCreateSchema } from "@darkroom/domain";
import { describe, expect, it } from "vitest";
import { type CompleteInput, claimJob, claimJobs, completeJobs } from "./attempt-batches";
import { failAttempt, renewLeases, writeProgressBatch } from "./attempts";
import type { PrismaClient } from "./client";
import { createJob } from "./jobs";
import { useTestDatabase } from "./use-test-database";

/** Claims and completions of many jobs in one statement: each row fenced on its own. */

const t = useTestDatabase("attempt-batches");

const LEASE = { leaseOwner: "w", leaseMs: 30_000 };

/** New queued jobs, each with a webhook for job.started and job.succeeded unless `webhook` is false. */
async function newJobs(count: number, { webhook = true } = {}): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const hook = { webhook_url: "https://example.com/hook", webhook_events: ["job.started", "job.succeeded"] };
    const input = JobCreateSchema.parse({ prompt: `batch ${i}`, ...(webhook ? hook : {}) });
    ids.push((await createJob(t.db, { tenantId: t.tenantId, input })).id);
  }
  return ids;
}

async function eventTypes(jobId: string): Promise<string[]> {
  const events = await t.db.jobEvent.findMany({ where: { jobId }, orderBy: { seq: "asc" } });
  return events.map((e) => e.type);
}

async function outbox(jobId: string): Promise<string[]> {
  const rows = await t.db.webhookDelivery.findMany({ where: { jobId }, include: { event: true } });
  return rows.map((r) => r.event.type).sort();
}

function completion(jobId: string, attempt: number, index = 0): CompleteInput {
  return {
    jobId,
    attempt,
    model: "gpt-4o-image",
    images: [
      {
        index,
        storageKey: `${jobId}/${index}-abc.png`,
        contentType: "image/png",
        bytes: 100,
        sha256: "ab".repeat(32),
        width: 1024,
        height: 1024,
        sourceUrl: null,
      },
    ],
    usage: { total_tokens: 7 },
    costMicroUsd: 40_000,
    facts: { upstreamRequestId: `req-${jobId}`, timeToFirstByteMs: 12, httpStatus: 200 },
  };
}

/** Completes the first attempt of each job; how many were completed. */
async function completeFirstAttempts(db: PrismaClient, jobIds: string[]): Promise<number> {
  return (
    await completeJobs(
      db,
      jobIds.map((id) => completion(id, 1)),
    )
  ).size;
}

describe("claimJobs", () => {
  it("claims every claimable job of the batch in one statement and leaves the others alone", async () => {
    const [a, b, c, held, done] = await newJobs(5);
    if (a === undefined || b === undefined || c === undefined || held === undefined || done === undefined) {
      throw new Error("unreachable");
    }
    // Owned by a live attempt elsewhere, and finished: neither may be claimed again.
    expect(await claimJob(t.db, { jobId: held, ...LEASE })).not.toBeNull();
    expect(await claimJob(t.db, { jobId: done, ...LEASE })).not.toBeNull();
    expect(await completeJobs(t.db, [completion(done, 1)])).toEqual(new Set([done]));

    const claims = await claimJobs(t.db, [c, held, a, done, b], { leaseOwner: "batch", leaseMs: 30_000 });
    expect([...claims.keys()].sort()).toEqual([a, b, c].sort());
    for (const id of [a, b, c]) {
      expect(claims.get(id)).toMatchObject({
        attempt: 1,
        model: "gpt-4o-image",
        skipped: null,
        job: { id, tenantId: t.tenantId, attempts: [{ number: 1, model: "gpt-4o-image", errorClass: null }] },
      });
      expect(await t.db.job.findUniqueOrThrow({ where: { id } })).toMatchObject({
        status: "running",
        attempt: 1,
        leaseOwner: "batch",
      });
      expect(await eventTypes(id)).toEqual(["job.queued", "job.started"]);
      expect(await outbox(id)).toEqual(["job.started"]);
    }
    // The refused rows kept their owner, attempt and events.
    expect(await t.db.job.findUniqueOrThrow({ where: { id: held } })).toMatchObject({ attempt: 1, leaseOwner: "w" });
    expect(await eventTypes(held)).toEqual(["job.queued", "job.started"]);
    expect(await t.db.job.findUniqueOrThrow({ where: { id: done } })).toMatchObject({ status: "succeeded" });
    expect(await eventTypes(done)).toEqual(["job.queued", "job.started", "job.succeeded"]);
  });

  it("gives each job its own earlier attempts, and the next attempt number after a retry", async () => {
    const [first, second] = await newJobs(2);
    if (first === undefined || second === undefined) throw new Error("unreachable");
    await claimJob(t.db, { jobId: first, ...LEASE });
    const error = { code: "upstream_error", message: "boom", retryable: true, errorClass: "server_error" } as const;
    await failAttempt(t.db, { jobId: first, attempt: 1, error, facts: {}, retryAt: new Date() });

    const claims = await claimJobs(t.db, [first, second], LEASE);
    expect(claims.get(first)).toMatchObject({
      attempt: 2,
      job: {
        attempts: [
          { number: 1, errorClass: "server_error" },
          { number: 2, errorClass: null },
        ],
      },
    });
    expect(claims.get(second)).toMatchObject({ attempt: 1, job: { attempts: [{ number: 1 }] } });
  });
});

describe("completeJobs", () => {
  it("completes every owned job of the batch; a fenced-out one is refused alone, nothing of it written", async () => {
    const ids = await newJobs(4);
    const claims = await claimJobs(t.db, ids, LEASE);
    expect(claims.size).toBe(4);
    const [stale, ...owned] = ids;
    if (stale === undefined) throw new Error("unreachable");
    // Taken over: the job moved on to attempt 2 (as after a lost lease), so attempt 1's result is stale.
    await t.db.job.update({ where: { id: stale }, data: { attempt: 2 } });

    const done = await completeJobs(
      t.db,
      ids.map((id) => completion(id, 1)),
    );
    expect([...done].sort()).toEqual([...owned].sort());
    for (const id of owned) {
      expect(await t.db.job.findUniqueOrThrow({ where: { id } })).toMatchObject({
        status: "succeeded",
        progressPercent: 100,
        resultModel: "gpt-4o-image",
        imagesStored: 1,
        leaseOwner: null,
        usage: { total_tokens: 7 },
      });
      expect(Number((await t.db.job.findUniqueOrThrow({ where: { id } })).costUsd)).toBeCloseTo(0.04);
      expect(await t.db.jobAttempt.findFirstOrThrow({ where: { jobId: id, number: 1 } })).toMatchObject({
        status: "succeeded",
        upstreamRequestId: `req-${id}`,
        timeToFirstByteMs: 12,
        httpStatus: 200,
      });
      expect(await t.db.image.findMany({ where: { jobId: id }, select: { index: true, storageKey: true } })).toEqual([
        { index: 0, storageKey: `${id}/0-abc.png` },
      ]);
      expect(await eventTypes(id)).toEqual(["job.queued", "job.started", "job.succeeded"]);
      expect(await outbox(id)).toEqual(["job.started", "job.succeeded"]);
    }
    expect(await t.db.job.findUniqueOrThrow({ where: { id: stale } })).toMatchObject({ status: "running" });
    expect(await t.db.image.count({ where: { jobId: stale } })).toBe(0);
    expect(await eventTypes(stale)).toEqual(["job.queued", "job.started"]);
    expect(await outbox(stale)).toEqual(["job.started"]);
  });

  it("keeps an absent fact, and refuses a job given twice", async () => {
    const [id] = await newJobs(1);
    if (id === undefined) throw new Error("unreachable");
    await claimJob(t.db, { jobId: id, ...LEASE });
    await t.db.jobAttempt.updateMany({ where: { jobId: id }, data: { upstreamRequestId: "from-the-stream" } });
    await expect(completeJobs(t.db, [completion(id, 1), completion(id, 1)])).rejects.toThrow(/given twice/);
    expect(await completeJobs(t.db, [{ ...completion(id, 1), facts: { httpStatus: null } }])).toEqual(new Set([id]));
    expect(await t.db.jobAttempt.findFirstOrThrow({ where: { jobId: id } })).toMatchObject({
      upstreamRequestId: "from-the-stream",
      httpStatus: null,
    });
  });

  it("snapshots each first delivery and each ending a job can leave; job.succeeded reads the job as it is", async () => {
    // Two with a webhook (their events have first deliveries), two without, two that fail without one.
    const hooked = await newJobs(2);
    const plain = await newJobs(2, { webhook: false });
    const failing = await newJobs(2, { webhook: false });
    const ids = [...hooked, ...plain];
    for (const id of [...ids, ...failing]) expect(await claimJob(t.db, { jobId: id, ...LEASE })).not.toBeNull();
    expect(
      await completeJobs(
        t.db,
        ids.map((id) => completion(id, 1)),
      ),
    ).toEqual(new Set(ids));
    const error = { code: "upstream_error", message: "gone", retryable: false, errorClass: "http_4xx" } as const;
    for (const id of failing) {
      expect(await failAttempt(t.db, { jobId: id, attempt: 1, error, facts: {}, retryAt: null })).toBe(true);
    }
    const snapshotsOf = async (id: string) => {
      const events = await t.db.jobEvent.findMany({ where: { jobId: id }, orderBy: { seq: "asc" } });
      const rows = await t.db.jobEventSnapshot.findMany({ where: { eventId: { in: events.map((e) => e.id) } } });
      const byType = (type: string) => events.find((e) => e.type === type)?.id ?? "";
      const snapshots = new Map(rows.map((s) => [s.eventId, s.job as Record<string, unknown>]));
      return { byType, snapshots };
    };
    for (const id of ids) {
      const { byType, snapshots } = await snapshotsOf(id);
      // A succeeded job never changes again: its job.succeeded event needs no copy of it. Events
      // with a first delivery (job.started, job.succeeded here) have one: their webhook's data.
      const withHook = hooked.includes(id);
      expect([...snapshots.keys()].sort()).toEqual(
        withHook ? [byType("job.started"), byType("job.succeeded")].sort() : [],
      );
      if (withHook) {
        expect(snapshots.get(byType("job.started"))).toMatchObject({
          id,
          status: "running",
          attempts: [{ status: "running" }],
        });
        expect(snapshots.get(byType("job.succeeded"))).toMatchObject({
          id,
          status: "succeeded",
          progressPercent: 100,
          attempts: [{ number: 1, status: "succeeded", upstreamRequestId: `req-${id}` }],
        });
      }
    }
    for (const id of failing) {
      // A failed job can be retried: its ending keeps the job as the failing statement left it.
      const { byType, snapshots } = await snapshotsOf(id);
      expect([...snapshots.keys()]).toEqual([byType("job.failed")]);
      const ended = snapshots.get(byType("job.failed")) ?? {};
      expect(ended).toMatchObject({
        id,
        status: "failed",
        errorCode: "upstream_error",
        attempts: [{ number: 1, status: "failed", errorCode: "upstream_error" }],
      });
      for (const hidden of ["prompt", "metadata", "leaseOwner", "leaseExpiresAt", "idempotencyKey", "requestHash"]) {
        expect(ended).not.toHaveProperty(hidden);
      }
    }
  });
});

describe("batch statements", () => {
  it("find their jobs by id, never through a status index, whatever the table's statistics say", async () => {
    // A burst of new jobs after the table's last ANALYZE: the planner believes almost none are
    // queued or running, and would rather scan a status index (every job of that status, and the
    // index's dead entries) than look the batch's few rows up by id. That scan grows with the backlog.
    await t.db.$executeRaw`
      INSERT INTO "Job" (id, "tenantId", status, model, prompt, n, size, quality, "maxAttempts", "deadlineSeconds",
        "deadlineAt", "webhookEvents", "finishedAt")
      SELECT 'job_done' || g, ${t.tenantId}, 'succeeded', 'gpt-4o-image', 'done ' || g, 1, '1024x1024', 'auto', 3, 600,
        now(), '{}', now()
      FROM generate_series(1, 5000) g`;
    await t.db.$executeRaw`ANALYZE "Job"`;
    const batch = (await newJobs(300, { webhook: false })).slice(0, 3);
    await t.db.$transaction(async (tx) => {
      const db = tx as unknown as PrismaClient;
      // Planned as the workers' named prepared statements soon are: once, for any parameters.
      await tx.$executeRaw`SET LOCAL plan_cache_mode = force_generic_plan`;
      // Index scans on the job table's status indexes by this connection. Postgres 15's
      // `pg_stat_get_xact_*` counts also hold what the connection's earlier transactions did that
      // is not flushed yet (at most once a second, between transactions; never inside this one):
      // only what each call adds is read.
      const statusScans = async () => {
        const [row] = await tx.$queryRaw<{ n: bigint }[]>`
          SELECT COALESCE(sum(pg_stat_get_xact_numscans(i.indexrelid)), 0)::bigint AS n
          FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
          WHERE i.indrelid = '"Job"'::regclass AND c.relname LIKE '%status%'`;
        return Number(row?.n);
      };
      let counted = await statusScans();
      const scansSince = async () => {
        const now = await statusScans();
        const added = now - counted;
        counted = now;
        return added;
      };
      const claims = await claimJobs(db, batch, LEASE);
      expect(claims.size).toBe(3);
      expect(await scansSince(), "claimJobs").toBe(0);
      const rows = batch.map((jobId) => ({ jobId, attempt: 1 }));
      expect(
        (
          await writeProgressBatch(
            db,
            rows.map((r) => ({ ...r, percent: 10, stage: "generating" })),
          )
        ).size,
      ).toBe(3);
      expect(await scansSince(), "writeProgressBatch").toBe(0);
      expect((await renewLeases(db, rows, 30_000)).size).toBe(3);
      expect(await scansSince(), "renewLeases").toBe(0);
      expect(await completeFirstAttempts(db, batch)).toBe(3);
      expect(await scansSince(), "completeJobs").toBe(0);
    });
  });
});

describe("attempts and images of first attempts", () => {
  it("are not read by the claim, nor by the completion beyond the attempt it finishes", async () => {
    const batch = await newJobs(4, { webhook: false });
    await t.db.$transaction(async (tx) => {
      const db = tx as unknown as PrismaClient;
      // Index plans, planned once for any parameters: each lookup is a scan of its own, so that what
      // a statement reads per job shows in the counts (a sequential scan would read every row once).
      await tx.$executeRaw`SET LOCAL plan_cache_mode = force_generic_plan`;
      await tx.$executeRaw`SET LOCAL enable_seqscan = off`;
      // Scans of each table and its indexes by this connection (as in the test above: only what each
      // call adds is read).
      const scans = async () => {
        const rows = await tx.$queryRaw<{ table: string; n: bigint }[]>`
          SELECT t.relname AS table, (pg_stat_get_xact_numscans(t.oid)
            + COALESCE(sum(pg_stat_get_xact_numscans(i.indexrelid)), 0))::bigint AS n
          FROM pg_class t LEFT JOIN pg_index i ON i.indrelid = t.oid
          WHERE t.relname IN ('JobAttempt', 'Image') AND t.relkind = 'r' GROUP BY t.oid, t.relname`;
        return Object.fromEntries(rows.map((r) => [r.table, Number(r.n)]));
      };
      let counted = await scans();
      const scansSince = async () => {
        const now = await scans();
        const added = Object.fromEntries(Object.entries(now).map(([k, v]) => [k, v - (counted[k] ?? 0)]));
        counted = now;
        return added;
      };
      expect((await claimJobs(db, batch, LEASE)).size).toBe(4);
      expect(await scansSince(), "claimJobs").toEqual({ JobAttempt: 0, Image: 0 });
      expect(await completeFirstAttempts(db, batch)).toBe(4);
      // One lookup per finished attempt; the images' only lookups are their inserts' conflict checks.
      expect(await scansSince(), "completeJobs").toEqual({ JobAttempt: 4, Image: 4 });
    });
  });
});
