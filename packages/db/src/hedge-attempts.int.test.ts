import { JobCreateSchema } from "@darkroom/domain";
import { describe, expect, it } from "vitest";
import { claimJob, completeJob } from "./attempt-batches";
import { failAttempt, failHedgedAttempt, releaseJob, renewLeases, startHedge, writeProgressBatch } from "./attempts";
import { createJob } from "./jobs";
import { useTestDatabase } from "./use-test-database";

/** The hedged fallback's statements: two attempts of one run share the job's fence (docs/hedging.md). */

const t = useTestDatabase("hedge-attempts");

const ERROR = { code: "deadline_exceeded", message: "late", retryable: false, errorClass: "stalled" } as const;

/** A hedged job claimed on its primary (attempt 1) with its hedge started (attempt 2). */
async function hedgedRun() {
  const input = JobCreateSchema.parse({ prompt: "a lighthouse", hedge_after_seconds: 1 });
  const job = await createJob(t.db, { tenantId: t.tenantId, input });
  const claim = await claimJob(t.db, { jobId: job.id, leaseOwner: "w", leaseMs: 30_000 });
  expect(claim).toMatchObject({ attempt: 1, model: "gpt-4o-image" });
  expect(await startHedge(t.db, { jobId: job.id, attempt: 1, model: "gpt-image-1" })).toBe(2);
  return job.id;
}

async function attempts(jobId: string) {
  const rows = await t.db.jobAttempt.findMany({ where: { jobId }, orderBy: { number: "asc" } });
  return rows.map((a) => [a.number, a.status, a.hedge, a.errorClass]);
}

describe("hedged run statements", () => {
  it("startHedge moves the fence: the primary's old number writes nothing, and a second hedge is refused", async () => {
    const jobId = await hedgedRun();
    const row = await t.db.job.findUniqueOrThrow({ where: { id: jobId } });
    expect(row).toMatchObject({ attempt: 2, fallbackUsed: true, status: "running" });
    expect(await attempts(jobId)).toEqual([
      [1, "running", false, null],
      [2, "running", true, null],
    ]);
    expect(await startHedge(t.db, { jobId, attempt: 1, model: "gpt-image-1" })).toBeNull();
    const stale = { jobId, attempt: 1, model: "gpt-4o-image", images: [], usage: null, costMicroUsd: 0, facts: {} };
    expect(await completeJob(t.db, stale)).toBe(false);
    expect(await completeJob(t.db, { ...stale, fence: 2 })).toBe(true);
    // The winner's completion ends the loser in the same statement.
    expect(await attempts(jobId)).toEqual([
      [1, "succeeded", false, null],
      [2, "canceled", true, "hedge_lost"],
    ]);
  });

  it("the primary's progress and lease go on under the hedge's fence, its events naming attempt 1", async () => {
    const jobId = await hedgedRun();
    const progress = { jobId, attempt: 1, percent: 40, stage: "generating" } as const;
    expect(await writeProgressBatch(t.db, [progress])).toEqual(new Set());
    expect(await writeProgressBatch(t.db, [{ ...progress, fence: 2 }])).toEqual(new Set([jobId]));
    expect(await renewLeases(t.db, [{ jobId, attempt: 1 }], 30_000)).toEqual(new Set());
    expect(await renewLeases(t.db, [{ jobId, attempt: 2 }], 30_000)).toEqual(new Set([jobId]));
    const events = await t.db.jobEvent.findMany({ where: { jobId, type: "job.progress" } });
    expect(events.map((e) => e.data)).toEqual([{ attempt: 1, percent: 40, stage: "generating" }]);
    expect(await t.db.job.findUniqueOrThrow({ where: { id: jobId } })).toMatchObject({ progressPercent: 40 });
  });

  it("a lone failure ends one attempt and leaves the job running on the other", async () => {
    const jobId = await hedgedRun();
    const lone = { jobId, attempt: 2, error: ERROR, facts: {}, stillRunning: 1 };
    expect(await failHedgedAttempt(t.db, { ...lone, fence: 1 })).toBe(false);
    expect(await failHedgedAttempt(t.db, { ...lone, fence: 2 })).toBe(true);
    expect((await t.db.job.findUniqueOrThrow({ where: { id: jobId } })).status).toBe("running");
    expect(await attempts(jobId)).toEqual([
      [1, "running", false, null],
      [2, "failed", true, "stalled"],
    ]);
  });

  it("failing the run (the deadline took both calls) ends both attempts: none outlives the run", async () => {
    const jobId = await hedgedRun();
    expect(await failAttempt(t.db, { jobId, attempt: 1, fence: 2, error: ERROR, facts: {}, retryAt: null })).toBe(true);
    expect((await t.db.job.findUniqueOrThrow({ where: { id: jobId } })).status).toBe("failed");
    expect(await attempts(jobId)).toEqual([
      [1, "failed", false, "stalled"],
      [2, "failed", true, "stalled"],
    ]);
  });

  it("giving the run back (worker stopping) interrupts both attempts", async () => {
    const jobId = await hedgedRun();
    expect(await releaseJob(t.db, jobId, 1)).toBe(false);
    expect(await releaseJob(t.db, jobId, 2)).toBe(true);
    expect(await attempts(jobId)).toEqual([
      [1, "interrupted", false, "interrupted"],
      [2, "interrupted", true, "interrupted"],
    ]);
  });
});
