import { JobCreateSchema } from "@darkroom/domain";
import { describe, expect, it } from "vitest";
import { claimJob } from "./attempt-batches";
import { failAttempt } from "./attempts";
import { createJob } from "./jobs";
import { useTestDatabase } from "./use-test-database";

/** The claim with open circuits (the circuit breaker): skips to the fallback in the same statement. */

const t = useTestDatabase("circuit-skip");

const OPEN = ["gpt-4o-image"];
const claim = (jobId: string, circuitOpen: string[] = OPEN) =>
  claimJob(t.db, { jobId, leaseOwner: "test", leaseMs: 30_000, circuitOpen });

async function newJob(fields: Record<string, unknown> = {}) {
  const input = JobCreateSchema.parse({ prompt: "a lighthouse", ...fields });
  return createJob(t.db, { tenantId: t.tenantId, input });
}

async function stored(jobId: string) {
  const job = await t.db.job.findUniqueOrThrow({ where: { id: jobId }, include: { attempts: true } });
  const started = await t.db.jobEvent.findMany({ where: { jobId, type: "job.started" }, orderBy: { seq: "asc" } });
  return { job, started: started.map((e) => e.data) };
}

describe("claimJob with open circuits", () => {
  it("sends a job whose fallback is ahead to it, marking the attempt skipped circuit_open", async () => {
    const job = await newJob();
    const claimed = await claim(job.id);
    expect(claimed).toMatchObject({ attempt: 1, model: "gpt-image-1", skipped: "circuit_open" });
    expect(claimed?.job.fallbackUsed).toBe(true);
    expect(claimed?.job.attempts).toEqual([{ number: 1, model: "gpt-image-1", errorClass: null }]);
    const { job: row, started } = await stored(job.id);
    expect(row.fallbackUsed).toBe(true);
    expect(row.attempts.map((a) => [a.number, a.model, a.skipped])).toEqual([[1, "gpt-image-1", "circuit_open"]]);
    expect(started).toEqual([{ attempt: 1, model: "gpt-image-1", skipped: "circuit_open" }]);
  });

  it("calls the model when the job has no fallback, its circuit is closed, or it is on the fallback already", async () => {
    const none = await newJob({ fallback_model: null });
    expect(await claim(none.id)).toMatchObject({ model: "gpt-4o-image", skipped: null });
    const closed = await newJob();
    expect(await claim(closed.id, ["gpt-image-1"])).toMatchObject({ model: "gpt-4o-image", skipped: null });
    const own = await newJob({ model: "gpt-image-1" });
    expect(await claim(own.id, ["gpt-image-1"])).toMatchObject({ model: "gpt-image-1", skipped: null });

    // A job that switched to its fallback after a failure: its next attempt is not a skip.
    const switched = await newJob();
    const first = await claim(switched.id, []);
    expect(first).toMatchObject({ model: "gpt-4o-image", skipped: null });
    await failAttempt(t.db, {
      jobId: switched.id,
      attempt: 1,
      error: { code: "upstream_error", message: "x", retryable: true, errorClass: "transient_upstream" },
      facts: {},
      retryAt: new Date(),
      switchToFallback: true,
    });
    expect(await claim(switched.id)).toMatchObject({ attempt: 2, model: "gpt-image-1", skipped: null });
    const { job: row, started } = await stored(switched.id);
    expect(row.attempts.map((a) => [a.number, a.model, a.skipped]).sort()).toEqual([
      [1, "gpt-4o-image", null],
      [2, "gpt-image-1", null],
    ]);
    expect(started).toEqual([
      { attempt: 1, model: "gpt-4o-image" },
      { attempt: 2, model: "gpt-image-1" },
    ]);
  });
});
