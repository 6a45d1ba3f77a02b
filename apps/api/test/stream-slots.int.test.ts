import { AppError } from "@darkroom/domain";
import { createLogger } from "@darkroom/logger";
import { createTestRedis } from "@darkroom/testing";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { StreamSlots } from "../src/http/stream-slots";

/** Slot expiry as API processes see it: two StreamSlots on one Redis prefix stand for two processes. */

const TTL_MS = 600;
const testRedis = createTestRedis("stream-slots");
const redis = new Redis(testRedis.url, { maxRetriesPerRequest: 1 });
const logger = createLogger({ name: "api", level: "silent", pretty: false });
afterAll(async () => {
  redis.disconnect();
  await testRedis.cleanup();
});

async function refused(slots: StreamSlots, key: string): Promise<boolean> {
  try {
    (await slots.acquire(key)).release();
    return false;
  } catch (error) {
    if (error instanceof AppError && error.code === "rate_limited") return true;
    throw error;
  }
}

describe("stream slots", () => {
  it("gives back the slots of a process that died without releasing them, after their expiry", async () => {
    const crashed = new StreamSlots(redis, testRedis.prefix, 2, logger, TTL_MS);
    const survivor = new StreamSlots(redis, testRedis.prefix, 2, logger, TTL_MS);
    await crashed.acquire("key_crash");
    // The survivor keeps one slot of the same key live (and the key's Redis entry with it).
    const kept = await survivor.acquire("key_crash");
    // The process is gone: no heartbeat, no release.
    crashed.close();
    const takenAt = Date.now();
    expect(await refused(survivor, "key_crash")).toBe(true);
    const deadline = Date.now() + 10_000;
    while ((await refused(survivor, "key_crash")) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await refused(survivor, "key_crash")).toBe(false);
    expect(Date.now() - takenAt).toBeGreaterThanOrEqual(TTL_MS - 100);
    // The survivor's own slot still counts: one more than it is refused.
    const second = await survivor.acquire("key_crash");
    expect(await refused(survivor, "key_crash")).toBe(true);
    second.release();
    kept.release();
    survivor.close();
  });

  it("keeps a live process's slot past the expiry, renewed by its heartbeat", async () => {
    const holder = new StreamSlots(redis, testRedis.prefix, 1, logger, TTL_MS);
    const other = new StreamSlots(redis, testRedis.prefix, 1, logger, TTL_MS);
    const slot = await holder.acquire("key_live");
    const until = Date.now() + TTL_MS * 4;
    while (Date.now() < until) {
      expect(await refused(other, "key_live")).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    slot.release();
    const deadline = Date.now() + 5_000;
    while ((await refused(other, "key_live")) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(await refused(other, "key_live")).toBe(false);
    holder.close();
    other.close();
  });
});
