import { createLogger } from "@darkroom/logger";
import { createGenerationQueue, FairIntake, type GenerationQueue } from "@darkroom/queue";
import { createTestRedis, type TestRedis } from "@darkroom/testing";
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
    await enqueue(["job_1", "job_2", "job_3"]);
    // Two slots, offered without a round (start() would run one of its own).
    await intake.heartbeat("w1", 2, 60_000);
    admitter = admitterWith(2);
    await admitter.nudge();
    // Not a moment later: at once.
    expect(await queue.getWaitingCount()).toBe(2);
    // One slot frees: the next nudge admits the third job into it before it resolves.
    const [first] = await queue.getWaiting();
    if (first?.id === undefined) throw new Error("no waiting job");
    await intake.release((first.data as { work: string }).work, first.id);
    await admitter.nudge();
    expect(await queue.getWaitingCount()).toBe(3);
  });

  it("answers a nudge made during a round with the round after it", async () => {
    await enqueue(["job_1", "job_2"]);
    await intake.heartbeat("w1", 1, 60_000);
    admitter = admitterWith(1);
    await admitter.nudge();
    const [first] = await queue.getWaiting();
    // A round starts with the one slot taken; the slot frees while it runs (its script went first
    // on the connection, the release after it), and a second nudge comes during the round.
    const during = admitter.nudge();
    const released = intake.release("job_1", first?.id as string);
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
    await enqueue(["job_1", "job_2", "job_3"]);
    await intake.heartbeat("w1", 2, 60_000);
    admitter = admitterWith(2);
    await admitter.nudge();
    const [first, second] = await queue.getWaiting();
    if (first?.id === undefined || second?.id === undefined) throw new Error("no waiting job");
    await intake.startedMany(
      [first, second].map((j) => ({ work: (j.data as { work: string }).work, bullJobId: j.id as string })),
    );
    const alone = vi.spyOn(intake, "releaseMany");
    const rounds = vi.spyOn(intake, "releaseAndAdmit");
    // Two jobs end at once: their slots are freed in one round, which admits job_3 into one.
    const freed = await Promise.all([
      admitter.release({ work: (first.data as { work: string }).work, bullJobId: first.id }),
      admitter.release({ work: (second.data as { work: string }).work, bullJobId: second.id as string }),
    ]);
    expect(freed).toEqual([true, true]);
    const waiting = await queue.getWaiting();
    expect(waiting.map((j) => (j.data as { work: string }).work)).toContain("job_3");
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
    await enqueue(["job_1"]);
    await intake.heartbeat("w1", 1, 60_000);
    admitter = admitterWith(1);
    await admitter.nudge();
    const [first] = await queue.getWaiting();
    if (first?.id === undefined) throw new Error("no waiting job");
    const item = { work: "job_1", bullJobId: first.id };
    const failing = admitterOnLostRedis();
    await expect(failing.release(item)).rejects.toThrow();
    expect((await intake.snapshot()).admitted).toBe(1);
    await admitter.close();
    expect(await admitter.release(item)).toBe(true);
    expect((await intake.snapshot()).admitted).toBe(0);
  });
});
