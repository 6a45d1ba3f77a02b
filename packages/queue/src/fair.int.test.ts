import { createTestRedis, type TestRedis } from "@darkroom/testing";
import { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FairIntake, type JobPriority, type TenantShare } from "./fair";

// The admission rule itself, against a real Redis: which work gets each free slot.

let redis: Redis;
let testRedis: TestRedis;
let intake: FairIntake;
let clock = Date.parse("2026-12-01T00:00:00Z");

beforeEach(() => {
  testRedis = createTestRedis("fair");
  redis = new Redis(testRedis.url, { maxRetriesPerRequest: 1 });
  intake = new FairIntake(redis, testRedis.prefix);
});

afterEach(async () => {
  redis.disconnect();
  await testRedis.cleanup();
});

const share = (weight = 1, maxConcurrency: number | null = null): TenantShare => ({ weight, maxConcurrency });

async function queue(tenantId: string, count: number, options: { priority?: JobPriority; s?: TenantShare } = {}) {
  const works: string[] = [];
  for (let i = 0; i < count; i++) {
    clock += 1;
    const work = `job_${tenantId}_${String(clock)}`;
    works.push(work);
    await intake.enqueue({
      work,
      tenantId,
      priority: options.priority ?? "normal",
      createdAt: new Date(clock),
      share: options.s ?? share(),
    });
  }
  return works;
}

/** Admits everything the capacity allows and returns the tenant of each admission, in order. */
async function admitAll() {
  const { admitted } = await intake.admit(10_000);
  return admitted;
}

const tenantOf = (work: string) => work.split("_")[1];

describe("fair admission", () => {
  it("admits nothing while no worker offers slots, then up to the live capacity", async () => {
    await queue("a", 5);
    expect(await admitAll()).toEqual([]);
    expect(await intake.heartbeat("w1", 3, 10_000)).toBe(3);
    expect(await admitAll()).toHaveLength(3);
    expect(await admitAll()).toHaveLength(0);
    // A second worker adds its slots; leaving takes them away again.
    await intake.heartbeat("w2", 1, 10_000);
    expect(await admitAll()).toHaveLength(1);
    expect(await intake.heartbeat("w2", 0, 0)).toBe(3);
  });

  it("a worker whose heartbeat expired no longer counts", async () => {
    await intake.heartbeat("gone", 5, 50);
    await new Promise((r) => setTimeout(r, 80));
    await queue("a", 2);
    expect(await admitAll()).toEqual([]);
    expect((await intake.snapshot()).capacity).toBe(0);
  });

  it("gives a newcomer tenant the next slots although another tenant queued 200 jobs first", async () => {
    await intake.heartbeat("w", 10, 10_000);
    const a = await queue("a", 200);
    const first = await admitAll();
    expect(first.map((x) => tenantOf(x.work))).toEqual(Array(10).fill("a"));
    const b = await queue("b", 10);
    // Slots free one at a time as A's jobs end: each goes to B (running 0 < A's 10) until B has 5.
    const order: string[] = [];
    for (let i = 0; i < 10; i++) {
      const done = first[i];
      if (done === undefined) throw new Error("missing admission");
      expect(await intake.release(done.work, done.bullJobId)).toBe(true);
      const [next] = await admitAll();
      if (next === undefined) throw new Error("a free slot was not used");
      order.push(tenantOf(next.work) ?? "");
    }
    expect(order.slice(0, 5)).toEqual(["b", "b", "b", "b", "b"]);
    // Then each slot A frees goes back to A, whose running count (4) is now below B's (5).
    expect(order.slice(5)).toEqual(["a", "a", "a", "a", "a"]);
    expect(a).toHaveLength(200);
    expect(b).toHaveLength(10);
  });

  it("shares slots by weight: 2:1 of 9 slots is 6 and 3", async () => {
    await intake.heartbeat("w", 9, 10_000);
    await queue("a", 50, { s: share(2) });
    await queue("b", 50, { s: share(1) });
    const admitted = await admitAll();
    const count = (t: string) => admitted.filter((x) => tenantOf(x.work) === t).length;
    expect([count("a"), count("b")]).toEqual([6, 3]);
  });

  it("never admits more of a tenant than its max_concurrency, and its cap leaves the slots to others", async () => {
    await intake.heartbeat("w", 10, 10_000);
    await queue("a", 20, { s: share(1, 3) });
    expect(await admitAll()).toHaveLength(3);
    await queue("b", 20);
    const more = await admitAll();
    expect(more.map((x) => tenantOf(x.work))).toEqual(Array(7).fill("b"));
    // An admin raising the cap takes effect at the next admission.
    await intake.setShare("a", share(1, 4));
    const [first] = more;
    if (first === undefined) throw new Error("no admission");
    await intake.release(first.work, first.bullJobId);
    expect((await admitAll()).map((x) => tenantOf(x.work))).toEqual(["a"]);
  });

  it("breaks a tie in running / weight by the oldest queued job", async () => {
    await queue("b", 2);
    await queue("a", 2);
    await intake.heartbeat("w", 4, 10_000);
    expect((await admitAll()).map((x) => tenantOf(x.work))).toEqual(["b", "a", "b", "a"]);
  });

  it("orders a tenant's work by priority, then age", async () => {
    await queue("a", 3, { priority: "low" });
    await queue("a", 3);
    const [high] = await queue("a", 1, { priority: "high" });
    await intake.heartbeat("w", 2, 10_000);
    const admitted = await admitAll();
    expect(admitted[0]?.work).toBe(high);
    // Then the oldest normal one, not the older low ones.
    expect(admitted[1]?.work).toContain(String(clock - 3));
  });

  it("frees a slot only for the admission that holds it (a stale duplicate frees nothing)", async () => {
    await intake.heartbeat("w", 1, 10_000);
    await queue("a", 2);
    const [held] = await admitAll();
    if (held === undefined) throw new Error("no admission");
    expect(await intake.release(held.work, `${held.work}-a999`)).toBe(false);
    expect(await admitAll()).toHaveLength(0);
    // A readmission gives the slot a new BullMQ id; the old one can no longer free it.
    const fresh = await intake.readmit(held.work, held.bullJobId);
    expect(fresh).not.toBeNull();
    expect(await intake.release(held.work, held.bullJobId)).toBe(false);
    expect(await intake.release(held.work, fresh ?? "")).toBe(true);
    expect(await admitAll()).toHaveLength(1);
  });

  it("marks and frees many admissions in one call, each fenced on its own BullMQ id", async () => {
    await intake.heartbeat("w", 4, 10_000);
    const works = await queue("a", 6);
    const held = await admitAll();
    expect(held).toHaveLength(4);
    const [one, two, three, four] = held;
    if (one === undefined || two === undefined || three === undefined || four === undefined) {
      throw new Error("no admission");
    }
    // A stale BullMQ id among them changes nothing of its own admission, and nothing of the others'.
    const stale = { work: two.work, bullJobId: `${two.work}-a999` };
    expect(await intake.startedMany([one, stale, three, four])).toEqual([true, false, true, true]);
    expect((await intake.places(works.slice(0, 4))).map((p) => p.state)).toEqual([
      "started",
      "admitted",
      "started",
      "started",
    ]);
    const retryAt = new Date(Date.now() + 60_000);
    expect(await intake.releaseMany([one, stale, { ...three, retryAt }, four])).toEqual([true, false, true, true]);
    // Three slots freed (one of them held for a retry); the stale id freed nothing.
    expect((await intake.places([two.work, three.work])).map((p) => p.state)).toEqual(["admitted", "retry_wait"]);
    expect(await admitAll()).toHaveLength(2);
    expect((await intake.snapshot()).admitted).toBe(3);
  });

  it("frees slots and admits into them in one call, each release fenced on its BullMQ id", async () => {
    await intake.heartbeat("w", 3, 10_000);
    const a = await queue("a", 3);
    const b = await queue("b", 2);
    const held = await admitAll();
    expect(held.map((x) => x.work)).toEqual([a[0], b[0], a[1]]);
    const [one, two, three] = held;
    if (one === undefined || two === undefined || three === undefined) throw new Error("no admission");
    const stale = { work: two.work, bullJobId: `${two.work}-a999` };
    const retryAt = new Date(Date.now() + 60_000);
    // Two slots free (one held for a retry, which frees it too); the stale id frees nothing. The
    // same call admits into both: B (running 1) first, then A (running 0 after its releases).
    const round = await intake.releaseAndAdmit({ releases: [one, stale, { ...three, retryAt }], batch: 10 });
    expect(round.freed).toEqual([true, false, true]);
    expect(round.admitted.map((x) => x.work)).toEqual([a[2], b[1]]);
    expect(round.nextDueAt).toBe(retryAt.getTime());
    expect((await intake.places([one.work, two.work, three.work])).map((p) => p.state)).toEqual([
      "unknown",
      "admitted",
      "retry_wait",
    ]);
    expect((await intake.snapshot()).admitted).toBe(3);
    // Nothing to free: the call is an admission round, here with no free slot.
    expect(await intake.releaseAndAdmit({ batch: 10 })).toEqual({
      started: [],
      freed: [],
      admitted: [],
      nextDueAt: retryAt.getTime(),
    });
  });

  it("marks starts before it frees slots in the same call, so a job's start and end can share one", async () => {
    await intake.heartbeat("w", 2, 10_000);
    const works = await queue("a", 3);
    const [one, two] = await admitAll();
    if (one === undefined || two === undefined) throw new Error("no admission");
    const stale = { work: two.work, bullJobId: `${two.work}-a999` };
    // `one` starts and ends within one round; `two` only starts; the stale id marks nothing.
    const round = await intake.releaseAndAdmit({ starts: [one, two, stale], releases: [one], batch: 10 });
    expect(round.started).toEqual([true, true, false]);
    expect(round.freed).toEqual([true]);
    expect(round.admitted.map((x) => x.work)).toEqual([works[2]]);
    expect((await intake.places(works)).map((p) => p.state)).toEqual(["unknown", "started", "admitted"]);
    // The pending count (admitted, not started) is the third job's alone.
    expect(await redis.hget(`${testRedis.prefix}:fair:pending`, "a")).toBe("1");
  });

  it("a retry waits for its time outside the intake, keeping its place in the tenant's order", async () => {
    await intake.heartbeat("w", 1, 10_000);
    const [first] = await queue("a", 1, { priority: "high" });
    await queue("a", 1);
    const [held] = await admitAll();
    expect(held?.work).toBe(first);
    if (held === undefined) throw new Error("no admission");
    const retryAt = new Date(Date.now() + 300);
    await intake.release(held.work, held.bullJobId, retryAt);
    // The slot is free, but the retry is not due: the other job takes it.
    const [other] = await admitAll();
    expect(other?.work).not.toBe(first);
    expect((await intake.places([first ?? ""]))[0]?.state).toBe("retry_wait");
    if (other === undefined) throw new Error("no admission");
    await intake.release(other.work, other.bullJobId);
    expect(await admitAll()).toEqual([]);
    const { nextDueAt } = await intake.admit(1);
    expect(nextDueAt).toBe(retryAt.getTime());
    await new Promise((r) => setTimeout(r, retryAt.getTime() - Date.now() + 20));
    expect((await admitAll()).map((x) => x.work)).toEqual([first]);
  });

  it("reports queue positions: admitted-but-not-started first, then the intake's order", async () => {
    await intake.heartbeat("w", 2, 10_000);
    const works = await queue("a", 5);
    const [one, two] = await admitAll();
    if (one === undefined || two === undefined) throw new Error("no admission");
    await intake.started(one.work, one.bullJobId);
    const places = await intake.places(works);
    expect(places.map((p) => p.state)).toEqual(["started", "admitted", "queued", "queued", "queued"]);
    // One admitted job has not started: the intake's head is second in line.
    expect(places.map((p) => p.position)).toEqual([null, 1, 2, 3, 4]);
    expect(places[4]?.tenantRunning).toBe(2);
    expect((await intake.places(["job_unknown"]))[0]?.state).toBe("unknown");
  });

  it("a cancel takes queued work out; admitted work stays until its worker frees it", async () => {
    await intake.heartbeat("w", 1, 10_000);
    const [a1, a2] = await queue("a", 2);
    const [held] = await admitAll();
    expect(held?.work).toBe(a1);
    expect(await intake.remove(a1 ?? "")).toBe(false);
    expect(await intake.remove(a2 ?? "")).toBe(true);
    if (held === undefined) throw new Error("no admission");
    await intake.release(held.work, held.bullJobId);
    expect(await admitAll()).toEqual([]);
  });

  it("enqueueing work twice, or while it is admitted, queues it once", async () => {
    await intake.heartbeat("w", 5, 10_000);
    const [work] = await queue("a", 1);
    const again = {
      work: work ?? "",
      tenantId: "a",
      priority: "normal" as const,
      createdAt: new Date(clock),
      share: share(),
    };
    expect(await intake.enqueue(again)).toBe(true);
    const admitted = await admitAll();
    expect(admitted).toHaveLength(1);
    expect(await intake.enqueue(again)).toBe(false);
    expect(await admitAll()).toEqual([]);
  });
});
