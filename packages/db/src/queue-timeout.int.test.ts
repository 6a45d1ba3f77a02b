import { JobCreateSchema } from "@darkroom/domain";
import { describe, expect, it } from "vitest";
import { claimJob } from "./attempt-batches";
import { failAttempt } from "./attempts";
import { createJob } from "./jobs";
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

describe("queue_timeout_seconds at the claim", () => {
  it("refuses to start a job past its start-by; failQueueTimeout fails it with job.failed and its webhook", async () => {
    const job = await jobCreated(11_000, 10);
    expect(await claim(job.id)).toBeNull();
    expect(await failQueueTimeout(t.db, job.id)).toBe(true);
    const row = await t.db.job.findUniqueOrThrow({ where: { id: job.id }, include: { attempts: true } });
    expect(row).toMatchObject({ status: "failed", errorCode: "queue_timeout", errorRetryable: false, attempt: 0 });
    expect(row.attempts).toEqual([]);
    const events = await t.db.jobEvent.findMany({ where: { jobId: job.id }, orderBy: { seq: "asc" } });
    expect(events.map((e) => e.type)).toEqual(["job.queued", "job.failed"]);
    const deliveries = await t.db.webhookDelivery.findMany({ where: { jobId: job.id } });
    expect(deliveries.map((d) => [d.eventId, d.status])).toEqual([[events[1]?.id, "pending"]]);
    // Once, whoever else tries.
    expect(await failQueueTimeout(t.db, job.id)).toBe(false);
    expect((await failQueueTimeouts(t.db)).map((j) => j.id)).not.toContain(job.id);
  });

  it("starts a job before its start-by, and a job without one, whatever their age", async () => {
    const early = await jobCreated(5_000, 10);
    const unlimited = await jobCreated(3_000_000, null);
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
