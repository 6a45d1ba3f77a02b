import { JobCreateSchema } from "@darkroom/domain";
import { describe, expect, it } from "vitest";
import { claimJob } from "./attempt-batches";
import { failAttempt } from "./attempts";
import { createJob } from "./jobs";
import { DEADLINE_MESSAGE, failExpiredJobs, failQueuedPastDeadline } from "./maintenance";
import { failQueueTimeout, failQueueTimeouts } from "./queue-timeout";
import { useTestDatabase } from "./use-test-database";
import { cancelJob, retryJob } from "./user-actions";

/** The claim of a worker refuses a job past its start-by; the job fails `queue_timeout` instead. */

const t = useTestDatabase("queue-timeout");

const claim = (jobId: string) => claimJob(t.db, { jobId, leaseOwner: "test", leaseMs: 30_000 });

/** A job with a webhook for its failure, created `agoMs` ago with the given start-by. */
async function jobCreated(agoMs: number, queueTimeoutSeconds: number | null) {
  const input = JobCreateSchema.parse({
    prompt: "a lighthouse",
    queue_timeout_seconds: queueTimeoutSeconds,
    webhook_url: "https://example.com/hook",
  });
  return createJob(t.db, { tenantId: t.tenantId, input, now: new Date(Date.now() - agoMs) });
}

/** The job's events are its creation and its failure, whose webhook is in the outbox. */
async function expectFailedBeforeStarting(jobId: string): Promise<void> {
  const events = await t.db.jobEvent.findMany({ where: { jobId }, orderBy: { seq: "asc" } });
  expect(events.map((e) => e.type)).toEqual(["job.queued", "job.failed"]);
  const deliveries = await t.db.webhookDelivery.findMany({ where: { jobId } });
  expect(deliveries.map((d) => [d.eventId, d.status])).toEqual([[events[1]?.id, "pending"]]);
}

describe("queue_timeout_seconds at the claim", () => {
  it("refuses to start a job past its start-by; failQueueTimeout fails it with job.failed and its webhook", async () => {
    const job = await jobCreated(11_000, 10);
    expect(await claim(job.id)).toBeNull();
    expect(await failQueueTimeout(t.db, job.id)).toBe(true);
    const row = await t.db.job.findUniqueOrThrow({ where: { id: job.id }, include: { attempts: true } });
    expect(row).toMatchObject({ status: "failed", errorCode: "queue_timeout", errorRetryable: false, attempt: 0 });
    expect(row.attempts).toEqual([]);
    await expectFailedBeforeStarting(job.id);
    // Once, whoever else tries.
    expect(await failQueueTimeout(t.db, job.id)).toBe(false);
    expect((await failQueueTimeouts(t.db)).map((j) => j.id)).not.toContain(job.id);
  });

  it("starts a job before its start-by, and a job without one however long it waited within its deadline", async () => {
    const early = await jobCreated(5_000, 10);
    // 14 minutes in the queue, within the default deadline of 15.
    const unlimited = await jobCreated(840_000, null);
    expect(await failQueueTimeout(t.db, early.id)).toBe(false);
    expect(await failQueueTimeout(t.db, unlimited.id)).toBe(false);
    expect((await claim(early.id))?.attempt).toBe(1);
    expect((await claim(unlimited.id))?.attempt).toBe(1);
  });

  it("never fails a started job waiting for its retry; a user retry gets a start-by of its own", async () => {
    const job = await jobCreated(0, 10);
    expect((await claim(job.id))?.attempt).toBe(1);
    // The first attempt failed and the retry waits; meanwhile the start-by passes.
    await failAttempt(t.db, {
      jobId: job.id,
      attempt: 1,
      error: { code: "upstream_error", message: "x", retryable: true, errorClass: "http_5xx" },
      facts: {},
      retryAt: new Date(),
    });
    await t.db.job.update({ where: { id: job.id }, data: { queueExpiresAt: new Date(Date.now() - 1000) } });
    expect((await failQueueTimeouts(t.db)).map((j) => j.id)).not.toContain(job.id);
    expect((await claim(job.id))?.attempt).toBe(2);

    await cancelJob(t.db, t.tenantId, job.id);
    const retried = await retryJob(t.db, t.tenantId, job.id);
    expect(retried.queueExpiresAt?.getTime()).toBeGreaterThan(Date.now() + 9_000);
    // The retry's run has not started: its own start-by holds.
    await t.db.job.update({ where: { id: job.id }, data: { queueExpiresAt: new Date(Date.now() - 1000) } });
    expect(await claim(job.id)).toBeNull();
    expect(await failQueueTimeouts(t.db)).toEqual([{ id: job.id, attemptBase: 2 }]);
  });
});

describe("deadline_seconds at the claim", () => {
  it("refuses to start a job past its deadline; failQueuedPastDeadline fails it with job.failed and its webhook", async () => {
    // Written 11 s ago with a 10 s deadline, and never claimed (the reconciler may queue it again).
    const input = JobCreateSchema.parse({
      prompt: "a lighthouse",
      deadline_seconds: 10,
      webhook_url: "https://example.com/hook",
    });
    const job = await createJob(t.db, { tenantId: t.tenantId, input, now: new Date(Date.now() - 11_000) });
    expect(await claim(job.id)).toBeNull();
    expect(await failQueueTimeout(t.db, job.id)).toBe(false);
    expect(await failQueuedPastDeadline(t.db, job.id)).toBe(true);
    const row = await t.db.job.findUniqueOrThrow({ where: { id: job.id }, include: { attempts: true } });
    expect(row).toMatchObject({
      status: "failed",
      errorCode: "deadline_exceeded",
      errorMessage: DEADLINE_MESSAGE,
      errorRetryable: false,
      attempt: 0,
    });
    expect(row.attempts).toEqual([]);
    await expectFailedBeforeStarting(job.id);
    expect(await failQueuedPastDeadline(t.db, job.id)).toBe(false);
  });

  it("the reconciler's sweep fails queued and running jobs past their deadline, each once", async () => {
    const queued = await jobCreated(0, null);
    const running = await jobCreated(0, null);
    expect((await claim(running.id))?.attempt).toBe(1);
    const past = new Date(Date.now() - 1000);
    await t.db.job.updateMany({ where: { id: { in: [queued.id, running.id] } }, data: { deadlineAt: past } });
    const changed = await failExpiredJobs(t.db);
    expect(changed.filter((c) => c.id === queued.id || c.id === running.id)).toEqual(
      expect.arrayContaining([
        { id: queued.id, wasRunning: false },
        { id: running.id, wasRunning: true },
      ]),
    );
    for (const job of [queued, running]) {
      const row = await t.db.job.findUniqueOrThrow({ where: { id: job.id }, include: { attempts: true } });
      expect(row).toMatchObject({ status: "failed", errorCode: "deadline_exceeded", errorMessage: DEADLINE_MESSAGE });
      expect(row.attempts.map((a) => a.status)).toEqual(job === running ? ["failed"] : []);
      const events = await t.db.jobEvent.findMany({ where: { jobId: job.id }, orderBy: { seq: "asc" } });
      expect(events.map((e) => e.type).filter((type) => type === "job.failed")).toEqual(["job.failed"]);
    }
    expect((await failExpiredJobs(t.db)).map((c) => c.id)).not.toContain(queued.id);
  });

  it("does not take over a running job whose lease and deadline both passed", async () => {
    const job = await jobCreated(0, null);
    expect((await claim(job.id))?.attempt).toBe(1);
    const past = new Date(Date.now() - 1000);
    await t.db.job.update({ where: { id: job.id }, data: { leaseExpiresAt: past, deadlineAt: past } });
    expect(await claim(job.id)).toBeNull();
    // Not queued: the reconciler's sweep fails it (and tells its worker), not this.
    expect(await failQueuedPastDeadline(t.db, job.id)).toBe(false);
  });
});
