import { createPrismaClient, type PrismaClient } from "@darkroom/db";
import { createRedisConnection, FairIntake } from "@darkroom/queue";
import { type Stack, startStack } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Receiver } from "./receiver";
import { client, uniquePrompt, upstreamCalls } from "./support";

let stack: Stack;
let receiver: Receiver;
let api: ReturnType<typeof client>;
let key: string;
let db: PrismaClient;
let redis: ReturnType<typeof createRedisConnection>;
let intake: FairIntake;
beforeAll(async () => {
  receiver = new Receiver();
  await receiver.start();
  // One slot, and a reconciler that sweeps often: a second job can only wait.
  stack = await startStack({
    label: "queue-timeout",
    simulatorStepMs: 5,
    env: { WORKER_CONCURRENCY: "1", RECONCILE_INTERVAL_MS: "500", ALLOW_PRIVATE_WEBHOOK_URLS: "true" },
  });
  key = await stack.newApiKey("queue-timeout");
  api = client(stack, key);
  db = createPrismaClient({ databaseUrl: stack.db.url, poolSize: 1 });
  redis = createRedisConnection(stack.redis.url, "worker");
  intake = new FairIntake(redis, stack.redis.prefix);
});
afterAll(async () => {
  await db?.$disconnect();
  redis?.disconnect();
  await stack?.stop();
  await receiver?.close();
});

describe("queue_timeout_seconds", () => {
  it("a job still queued at its start-by fails queue_timeout, never reaches the upstream and costs nothing", async () => {
    // Holds the only slot: a stream that pings and never progresses.
    const blocker = await api.create({ prompt: uniquePrompt("[[sim script=stall]]"), max_attempts: 1 });
    await api.waitFor(blocker.id, (j) => j.status === "running");
    const prompt = uniquePrompt("");
    const hook = receiver.script("/queue-timeout", () => ({ status: 204 }));
    const created = await api.create({
      prompt,
      queue_timeout_seconds: 10,
      webhook_url: hook,
      webhook_events: ["job.started", "job.failed"],
    });
    expect(created).toMatchObject({ status: "queued", queue_timeout_seconds: 10 });
    const startBy = Date.parse((created as unknown as { queue_expires_at: string }).queue_expires_at);
    expect(startBy - Date.parse(created.created_at)).toBe(10_000);

    const place = async () => (await intake.places([created.id]))[0]?.state;
    expect(await place()).toBe("queued");
    const done = await api.waitTerminal(created.id, 15_000);
    expect(Date.now()).toBeGreaterThanOrEqual(startBy);
    expect(done.status).toBe("failed");
    expect(done.error).toMatchObject({ code: "queue_timeout", retryable: false });
    expect(done.attempts).toEqual([]);
    expect(done.result).toBeNull();
    expect(upstreamCalls(stack, prompt)).toHaveLength(0);
    const row = await db.job.findUniqueOrThrow({ where: { id: created.id } });
    expect({ cost: row.costUsd, images: row.imagesStored, startedAt: row.startedAt }).toEqual({
      cost: null,
      images: null,
      startedAt: null,
    });

    // The failure goes out like any other: the terminal event, and its webhook.
    const [delivery] = await receiver.waitFor("/queue-timeout", 1);
    const body = JSON.parse(delivery?.body ?? "{}") as { type: string; data: { error: { code: string } } };
    expect(body.type).toBe("job.failed");
    expect(body.data.error.code).toBe("queue_timeout");
    const events = (await (
      await fetch(`${stack.apiUrl}/v1/jobs/${created.id}/events`, {
        headers: { authorization: `Bearer ${key}` },
      })
    ).json()) as { data: { type: string }[] };
    expect(events.data.map((e) => e.type)).toEqual(["job.queued", "job.failed"]);

    // Taken out of its tenant's intake, as a cancel would: never admitted only to be found failed.
    for (let i = 0; (await place()) !== "unknown"; i++) {
      if (i > 40) throw new Error(`still ${await place()} in the intake`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await api.post(`/v1/jobs/${blocker.id}/cancel`)).status).toBe(200);
  }, 30_000);
});
