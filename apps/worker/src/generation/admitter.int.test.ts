import { createLogger } from "@darkroom/logger";
import { createGenerationQueue, FairIntake, type GenerationQueue, type ReleaseItem } from "@darkroom/queue";
import { createTestRedis, type TestRedis } from "@darkroom/testing";
import type { Job } from "bullmq";
import { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Admitter } from "./admitter";

// A worker whose job freed a slot waits for the admission round it started (processor.ts): the
// work admitted into the slot must then already be in BullMQ, where the job's completion finds it.

const logger = createLogger({ name: "worker", level: "silent", pretty: false });
let testRedis: TestRedis;
let redis: Redis;
let intake: FairIntake;
let queue: GenerationQueue;
let admitter: Admitter | undefined;

beforeEach(() => {
  testRedis = createTestRedis("admitter");
  redis = new Redis(testRedis.url, { maxRetriesPerRequest: 1 });
  intake = new FairIntake(redis, testRedis.prefix);
  queue = createGenerationQueue(redis, testRedis.prefix);
});

afterEach(async () => {
  await admitter?.close();
  admitter = undefined;
  await queue.close();
  redis.disconnect();
  await testRedis.cleanup();
});

async function enqueue(works: string[]) {
  for (const [i, work] of works.entries()) {
    await intake.enqueue({
      work,
      tenantId: "ten_a",
      priority: "normal",
      createdAt: new Date(Date.parse("2026-12-05T00:00:00Z") + i),
      share: { weight: 1, maxConcurrency: null },
    });
  }
}

const admitterWith = (concurrency: number) =>
  new Admitter({ intake, queue, workerId: "w1", concurrency, logger, heartbeatMs: 60_000 });

/** What frees the slot of an admission's BullMQ job. */
function slotOf(job: Job): ReleaseItem {
  if (job.id === undefined) throw new Error("a BullMQ job without an id");
  return { work: (job.data as { work: string }).work, bullJobId: job.id };
}

/** Queues `works`, offers `slots` slots and runs one admission round: the slots of what it admitted. */
async function admitInto(slots: number, works: string[]): Promise<ReleaseItem[]> {
  await enqueue(works);
  // Offered without a round (start() would run one of its own).
  await intake.heartbeat("w1", slots, 60_000);
  admitter = admitterWith(slots);
  await admitter.nudge();
  return (await queue.getWaiting()).map(slotOf);
}

/** An admitter whose intake's Redis connection is gone: every round fails. */
function admitterOnLostRedis(): Admitter {
  const gone = new Redis(testRedis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
  gone.disconnect();
  return new Admitter({
    intake: new FairIntake(gone, testRedis.prefix),
    queue,
    workerId: "w2",
    concurrency: 1,
    logger,
    heartbeatMs: 60_000,
  });
}

describe("Admitter.nudge", () => {
  it("resolves once the work its round admitted is waiting in BullMQ", async () => {
    // Two slots: not a moment after the round, at once.
    const [first] = await admitInto(2, ["job_1", "job_2", "job_3"]);
    expect(await queue.getWaitingCount()).toBe(2);
    if (admitter === undefined || first === undefined) throw new Error("no admission");
    // One slot frees: the next nudge admits the third job into it before it resolves.
    await intake.release(first.work, first.bullJobId);
    await admitter.nudge();
    expect(await queue.getWaitingCount()).toBe(3);
  });

  it("answers a nudge made during a round with the round after it", async () => {
    const [first] = await admitInto(1, ["job_1", "job_2"]);
    if (admitter === undefined || first === undefined) throw new Error("no admission");
    // A round starts with the one slot taken; the slot frees while it runs (its script went first
    // on the connection, the release after it), and a second nudge comes during the round.
    const during = admitter.nudge();
    const released = intake.release(first.work, first.bullJobId);
    const after = admitter.nudge();
    const duringSaw = during.then(() => queue.getWaitingCount());
    // The round after it admitted job_2 into the freed slot, before answering.
    await after;
    expect(await queue.getWaitingCount()).toBe(2);
    // The running round saw no free slot: nothing new when it answered.
    expect(await duringSaw).toBe(1);
    expect(await released).toBe(true);
  });

  it("resolves, without waiting, when the round fails or the admitter is closed", async () => {
    await enqueue(["job_1"]);
    await intake.heartbeat("w1", 1, 60_000);
    admitter = admitterWith(1);
    // A Redis that is gone: the round fails (logged, nothing lost) and the nudge is answered.
    const failing = admitterOnLostRedis();
    await expect(failing.nudge()).resolves.toBeUndefined();
    await admitter.close();
    await expect(admitter.nudge()).resolves.toBeUndefined();
    expect(await queue.getWaitingCount()).toBe(0);
  });
});

describe("Admitter.release", () => {
  it("frees the slot and admits into it in one round, answering once the work is in BullMQ", async () => {
    const [first, second] = await admitInto(2, ["job_1", "job_2", "job_3"]);
    if (admitter === undefined || first === undefined || second === undefined) throw new Error("no admission");
    await intake.startedMany([first, second]);
    const alone = vi.spyOn(intake, "releaseMany");
    const rounds = vi.spyOn(intake, "releaseAndAdmit");
    // Two jobs end at once: their slots are freed in one round, which admits job_3 into one.
    const freed = await Promise.all([admitter.release(first), admitter.release(second)]);
    expect(freed).toEqual([true, true]);
    const waiting = await queue.getWaiting();
    expect(waiting.map((j) => slotOf(j).work)).toContain("job_3");
    expect((await intake.snapshot()).admitted).toBe(1);
    // The releases ride on admission rounds (two at most: the second release may come after the
    // first round began), never on a call of their own.
    expect(alone).not.toHaveBeenCalled();
    expect(rounds.mock.calls.length).toBeGreaterThanOrEqual(1);
    expect(rounds.mock.calls.length).toBeLessThanOrEqual(2);
    // A stale admission (its BullMQ id moved on) frees nothing.
    expect(await admitter.release({ work: "job_3", bullJobId: "job_3-a999" })).toBe(false);
  });

  it("rejects when the round fails (the slot stays held for the sweep), and frees alone once closed", async () => {
    const [item] = await admitInto(1, ["job_1"]);
    if (admitter === undefined || item === undefined) throw new Error("no admission");
    const failing = admitterOnLostRedis();
    await expect(failing.release(item)).rejects.toThrow();
    expect((await intake.snapshot()).admitted).toBe(1);
    await admitter.close();
    expect(await admitter.release(item)).toBe(true);
    expect((await intake.snapshot()).admitted).toBe(0);
  });
});

describe("Admitter.markStarted", () => {
  it("marks starts in the admission rounds, before the slots they free, never in a call of their own", async () => {
    const [first, second] = await admitInto(2, ["job_1", "job_2", "job_3"]);
    if (admitter === undefined || first === undefined || second === undefined) throw new Error("no admission");
    const alone = vi.spyOn(intake, "startedMany");
    const rounds = vi.spyOn(intake, "releaseAndAdmit");
    admitter.markStarted(first);
    admitter.markStarted(second);
    // The second job ends as soon as it started: its start is still marked before its slot is freed.
    expect(await admitter.release(second)).toBe(true);
    expect((await intake.places(["job_1"]))[0]?.state).toBe("started");
    const answers = await Promise.all(rounds.mock.results.map((r) => r.value as Promise<{ started: boolean[] }>));
    expect(answers.flatMap((a) => a.started)).toEqual([true, true]);
    expect(alone).not.toHaveBeenCalled();
  });

  it("marks alone once the admitter is closed", async () => {
    const [item] = await admitInto(1, ["job_1"]);
    if (admitter === undefined || item === undefined) throw new Error("no admission");
    await admitter.close();
    admitter.markStarted(item);
    await vi.waitFor(async () => expect((await intake.places(["job_1"]))[0]?.state).toBe("started"));
  });
});
