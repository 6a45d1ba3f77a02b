import { createTestRedis, type TestRedis } from "@darkroom/testing";
import { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { JobEventPublisher, jobEventsChannel, parseLiveProgress } from "./signals";

let testRedis: TestRedis;
let publisher: Redis;
let subscriber: Redis;

beforeEach(() => {
  testRedis = createTestRedis("signals");
  publisher = new Redis(testRedis.url, { maxRetriesPerRequest: 1 });
  subscriber = new Redis(testRedis.url, { maxRetriesPerRequest: 1 });
});

afterEach(async () => {
  publisher.disconnect();
  subscriber.disconnect();
  await testRedis.cleanup();
});

describe("JobEventPublisher", () => {
  it("sends a job's latest live progress of a turn once, stamped when it was given, and its signals", async () => {
    const channel = jobEventsChannel(testRedis.prefix, "job_1");
    const messages: string[] = [];
    subscriber.on("message", (_channel: string, message: string) => messages.push(message));
    await subscriber.subscribe(channel);
    const signals = new JobEventPublisher(publisher, testRedis.prefix);
    const before = Date.now();
    // Three changes in one turn: only the last reaches listeners, with the committed-events signal.
    signals.publishProgress("job_1", 1, 20, "generating");
    signals.publishProgress("job_1", 1, 40, "generating");
    signals.publishProgress("job_1", 2, 0, "starting");
    signals.publish(["job_1"]);
    const after = Date.now();
    await expect.poll(() => messages.length).toBe(2);
    const live = parseLiveProgress(messages[0] ?? "");
    expect(live).toMatchObject({ job_id: "job_1", attempt: 2, percent: 0, stage: "starting" });
    const at = Date.parse(live?.at ?? "");
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(after);
    expect(messages[1]).toBe("1");
    // A later turn sends again.
    signals.publishProgress("job_1", 2, 60, "generating");
    await expect.poll(() => messages.length).toBe(3);
    expect(parseLiveProgress(messages[2] ?? "")).toMatchObject({ attempt: 2, percent: 60 });
  });
});
