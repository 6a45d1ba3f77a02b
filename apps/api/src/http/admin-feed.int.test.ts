import { createJob, createPrismaClient, createTenantWithKey, type PrismaClient } from "@darkroom/db";
import { JobCreateSchema } from "@darkroom/domain";
import { createTestDatabase, type TestDatabase } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminFeed, FEED_POLL_MS, type FeedItem } from "./admin-feed";

/**
 * The feed's reads on a real database, with two of them held at will: a poll's read of new events
 * (`jobEvent.findMany`) and a fresh start's read of the newest seq (`jobEvent.findFirst`).
 */
let database: TestDatabase;
let db: PrismaClient;
let jobId: string;
let tenantId: string;
beforeAll(async () => {
  database = await createTestDatabase("admin-feed-unit");
  db = createPrismaClient({ databaseUrl: database.url, poolSize: 2 });
  tenantId = (await createTenantWithKey(db, "feed")).tenantId;
  jobId = (await createJob(db, { tenantId, input: JobCreateSchema.parse({ prompt: "feed" }) })).id;
});
afterAll(async () => {
  await db?.$disconnect();
  await database?.drop();
});

const writeEvents = (count: number, tag: string) =>
  db.$executeRawUnsafe(
    `INSERT INTO "JobEvent" (id, "jobId", "tenantId", type, data)
     SELECT 'evt_' || $4 || '_' || g, $1, $2, 'job.progress', jsonb_build_object('percent', 1, 'stage', 'rendering', 'tag', $4::text)
     FROM generate_series(1, $3::int) g`,
    jobId,
    tenantId,
    count,
    tag,
  );

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
  return { open, entered, pass: () => (arrived(), opened) };
}

describe("the admin feed across a fresh start", () => {
  it("drops what a poll begun before the fresh start read: the new tab gets only newer events", async () => {
    const holds: { findMany?: ReturnType<typeof gate>; findFirst?: ReturnType<typeof gate> } = {};
    const held = {
      ...db,
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
    try {
      await writeEvents(50, "before");
      const first = await feed.subscribe(() => undefined);
      // A poll is reading when the only tab leaves.
      holds.findMany = gate();
      await holds.findMany.entered;
      first.unsubscribe();
      await writeEvents(5, "meanwhile");
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
      await writeEvents(1, "after");
      await new Promise((resolve) => setTimeout(resolve, FEED_POLL_MS * 3));
      second.unsubscribe();
      const tags = received.map((item) => /"tag":"(\w+)"/.exec(item.text)?.[1]);
      expect(tags).toEqual(["after"]);
    } finally {
      feed.stop();
    }
  });
});
