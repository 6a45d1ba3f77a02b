import { createPrismaClient, type PrismaClient } from "@darkroom/db";
import { readSse, testPool } from "@darkroom/testing";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminFeed, FEED_POLL_MS, type FeedItem, MAX_REPLAY } from "../src/http/admin-feed";
import { ADMIN_TOKEN, type ApiHarness, startApiHarness } from "./harness";

/**
 * The dashboard's live feed (`GET /admin/api/stream`) under a high event rate: every event
 * exactly once, late commits included, status events carrying their job's row, and a reconnect
 * resuming where the tab stopped. It once stopped after about 500 events (its look-back window and
 * its page size were both 500).
 */

let h: ApiHarness;
let sql: pg.Pool;
beforeAll(async () => {
  h = await startApiHarness("adminfeed");
  sql = testPool(h.databaseUrl, 4);
});
afterAll(async () => {
  await sql?.end();
  await h?.close();
});

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

/** Inserts `count` progress events of a job in one statement (one commit). */
async function progressEvents(
  client: pg.Pool | pg.PoolClient,
  jobId: string,
  tenantId: string,
  count: number,
  tag: string,
) {
  await client.query(
    `INSERT INTO "JobEvent" (id, "jobId", "tenantId", type, data)
     SELECT 'evt_' || $4 || '_' || g, $1, $2, 'job.progress', jsonb_build_object('percent', g % 100, 'stage', 'rendering', 'tag', $4::text)
     FROM generate_series(1, $3::int) g`,
    [jobId, tenantId, count, tag],
  );
}

/**
 * Opens the stream and resolves once its start is fixed (the `retry:` line); it is read until
 * `count` events `mine` accepts have come (counted as they come: not re-parsing every event
 * received so far at each new one, which took seconds of CPU at 2,500 events).
 */
function follow(mine: (e: { data: string }) => boolean, count: number, headers: Record<string, string> = {}) {
  let seen = 0;
  let opened: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    opened = resolve;
  });
  const done = readSse(`${h.url}/admin/api/stream`, {
    headers: { ...admin, ...headers },
    stop: (e) => {
      if (mine(e)) seen += 1;
      return seen >= count;
    },
    onRetry: () => opened(),
    timeoutMs: 30_000,
  });
  return { ready: Promise.race([ready, done.then(() => undefined)]), done };
}

/**
 * A new tenant's job whose events a test follows: how to tell its events, their tags in order, how
 * to write some, and `watch`: a tab opened (with `headers`) before `count` events tagged `tag` are
 * written, read until it has `count` of the job's events.
 */
async function followedJob(name: string) {
  const tenant = await h.newTenant(name);
  const created = (await (
    await h.request("POST", "/v1/jobs", { key: tenant.apiKey, body: { prompt: name } })
  ).json()) as { id: string };
  const isMine = (e: { data: string }) => (JSON.parse(e.data) as { job_id?: string }).job_id === created.id;
  const tags = (events: { data: string }[]) =>
    events.filter(isMine).map((e) => (JSON.parse(e.data) as { data: { tag: string } }).data.tag);
  const write = (count: number, tag: string) => progressEvents(sql, created.id, tenant.tenantId, count, tag);
  const watch = async (count: number, tag: string, headers: Record<string, string> = {}) => {
    const tab = follow(isMine, count, headers);
    await tab.ready;
    await write(count, tag);
    return tab.done;
  };
  return { isMine, tags, write, watch };
}

/** A gate: reads wait at it while it is closed; `entered` resolves when the first one arrives. */
function gate() {
  let open: () => void = () => undefined;
  let arrived: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  const entered = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const pass = () => {
    arrived();
    return opened;
  };
  return { open, entered, pass };
}

describe("the dashboard's live feed", () => {
  it("delivers 2,500 events exactly once, a late commit included, status events with their job", async () => {
    const tenant = await h.newTenant("Feed");
    const created = (await (
      await h.request("POST", "/v1/jobs", { key: tenant.apiKey, body: { prompt: "feed" } })
    ).json()) as { id: string };
    const isMine = (e: { data: string }) => (JSON.parse(e.data) as { job_id: string }).job_id === created.id;
    const total = 2_500 + 1 + 1;
    const stream = follow(isMine, total);
    await stream.ready;

    // A transaction takes its event's seq first and commits last.
    const late = await sql.connect();
    await late.query("BEGIN");
    await progressEvents(late, created.id, tenant.tenantId, 1, "late");
    for (let i = 0; i < 25; i++) await progressEvents(sql, created.id, tenant.tenantId, 100, `batch${i}`);
    // Let the feed read past the gap before the late event commits.
    await new Promise((resolve) => setTimeout(resolve, 600));
    await late.query("COMMIT");
    late.release();
    // A status event: it carries the job's row.
    expect((await h.request("POST", `/v1/jobs/${created.id}/cancel`, { key: tenant.apiKey })).status).toBe(200);

    const { events } = await stream.done;
    type Frame = { id: string; seq: number; type: string; data: { tag?: string }; job?: unknown };
    const mine = events.filter(isMine).map((e) => ({ ...(JSON.parse(e.data) as Frame), id: e.id ?? "0" }));
    const seqs = mine.map((e) => e.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(mine).toHaveLength(total);
    expect(mine.filter((e) => e.data.tag === "late")).toHaveLength(1);
    // Ids never go down (the high-water mark), though the late event's own seq is lower.
    const ids = mine.map((e) => BigInt(e.id));
    expect(ids.every((id, i) => i === 0 || id >= (ids[i - 1] ?? 0n))).toBe(true);
    const late1 = mine.find((e) => e.data.tag === "late");
    expect(BigInt(late1?.id ?? "0")).toBeGreaterThan(BigInt(late1?.seq ?? 0));
    const canceled = mine.find((e) => e.type === "job.canceled") as {
      job?: { id: string; status: string; tenant_name: string };
    };
    expect(canceled.job).toMatchObject({ id: created.id, status: "canceled", tenant_name: "Feed" });
    // Progress events stay small: no job row.
    expect(mine.find((e) => e.type === "job.progress")).not.toHaveProperty("job");
  }, 60_000);

  it("resumes after Last-Event-ID with what was missed, once", async () => {
    const tenant = await h.newTenant("Resume");
    const created = (await (
      await h.request("POST", "/v1/jobs", { key: tenant.apiKey, body: { prompt: "resume" } })
    ).json()) as { id: string };
    const isMine = (e: { data: string }) => (JSON.parse(e.data) as { job_id: string }).job_id === created.id;
    const first = follow(isMine, 10);
    await first.ready;
    await progressEvents(sql, created.id, tenant.tenantId, 10, "before");
    const before = await first.done;
    const resumeFrom = before.lastEventId;
    // Missed while disconnected.
    await progressEvents(sql, created.id, tenant.tenantId, 700, "missed");
    const second = follow(isMine, 720, { "last-event-id": resumeFrom });
    await second.ready;
    await progressEvents(sql, created.id, tenant.tenantId, 20, "after");
    const { events } = await second.done;
    const tags = events.filter(isMine).map((e) => (JSON.parse(e.data) as { data: { tag: string } }).data.tag);
    expect(tags.filter((t) => t === "before")).toHaveLength(0);
    expect(tags.filter((t) => t === "missed")).toHaveLength(700);
    expect(tags.filter((t) => t === "after")).toHaveLength(20);
  }, 60_000);

  it("sends a new tab only what comes after it opened, also when nobody followed the feed meanwhile", async () => {
    const job = await followedJob("Idle");
    await job.watch(1, "watched");
    // The feed stops reading when its last tab leaves; these are written while nobody follows.
    await job.write(300, "unwatched");
    expect(job.tags((await job.watch(3, "opened")).events)).toEqual(["opened", "opened", "opened"]);
  }, 60_000);

  it("answers a reconnect more than MAX_REPLAY events behind with a reset, not the backlog", async () => {
    const job = await followedJob("Reset");
    const resumeFrom = (await job.watch(1, "old")).lastEventId;
    await job.write(MAX_REPLAY + 1, "far");
    const { events } = await job.watch(5, "new", { "last-event-id": resumeFrom });
    // The tab is told to reload its lists (dashboard event-stream.ts), then follows from there.
    const resets = events.filter((e) => e.event === "reset");
    expect(resets).toHaveLength(1);
    expect(events[0]?.event).toBe("reset");
    expect(BigInt(resets[0]?.id ?? "0")).toBeGreaterThanOrEqual(BigInt(resumeFrom ?? "0") + BigInt(MAX_REPLAY + 1));
    expect(job.tags(events)).toEqual(["new", "new", "new", "new", "new"]);
  }, 60_000);

  it("drops what a poll begun before a fresh start read: the new tab gets only newer events", async () => {
    // The feed's reads on the real database, with two of them held at will: a poll's read of new
    // events (jobEvent.findMany) and a fresh start's read of the newest seq (jobEvent.findFirst).
    const db: PrismaClient = createPrismaClient({ databaseUrl: h.databaseUrl, poolSize: 2 });
    const holds: { findMany?: ReturnType<typeof gate>; findFirst?: ReturnType<typeof gate> } = {};
    const held = {
      jobEvent: {
        findMany: async (args: unknown) => {
          await holds.findMany?.pass();
          return db.jobEvent.findMany(args as Parameters<typeof db.jobEvent.findMany>[0]);
        },
        findFirst: async (args: unknown) => {
          await holds.findFirst?.pass();
          return db.jobEvent.findFirst(args as Parameters<typeof db.jobEvent.findFirst>[0]);
        },
      },
      job: db.job,
    } as unknown as PrismaClient;
    const feed = new AdminFeed(
      held,
      (job) => ({ id: job.id }),
      (error) => {
        throw error;
      },
    );
    const job = await followedJob("Held");
    try {
      await job.write(50, "heldold");
      const first = await feed.subscribe(() => undefined);
      // A poll is reading when the only tab leaves.
      holds.findMany = gate();
      await holds.findMany.entered;
      first.unsubscribe();
      await job.write(5, "heldmid");
      // A new tab starts the feed afresh; the old poll's read comes back before the start's does.
      holds.findFirst = gate();
      const received: FeedItem[] = [];
      const subscribing = feed.subscribe((items) => received.push(...items));
      await holds.findFirst.entered;
      const oldPoll = holds.findMany;
      holds.findMany = undefined;
      oldPoll.open();
      await new Promise((resolve) => setTimeout(resolve, 50));
      holds.findFirst.open();
      const second = await subscribing;
      await job.write(1, "heldnew");
      await new Promise((resolve) => setTimeout(resolve, FEED_POLL_MS * 3));
      second.unsubscribe();
      const tags = received.map((item) => /"tag":"(\w+)"/.exec(item.text)?.[1]);
      expect(tags).toEqual(["heldnew"]);
    } finally {
      feed.stop();
      await db.$disconnect();
    }
  });
});
