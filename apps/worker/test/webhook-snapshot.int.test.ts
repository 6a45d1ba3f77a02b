import { type Stack, startStack } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Receiver } from "./receiver";
import { client, type JobJson, newTenant, uniquePrompt } from "./support";

// A webhook's `data` is the job as of its event, whenever the delivery goes out; and a terminal
// event in the event log carries the job as that event left it.

let stack: Stack;
let receiver: Receiver;
let api: ReturnType<typeof client>;
let key: string;
beforeAll(async () => {
  receiver = new Receiver();
  await receiver.start();
  stack = await startStack({
    label: "webhook-snapshot",
    simulatorStepMs: 40,
    // One delivery at a time to a receiver: while the receiver holds the first, the others wait.
    env: { ALLOW_PRIVATE_WEBHOOK_URLS: "true", WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT: "1" },
  });
  ({ apiKey: key } = await newTenant(stack));
  api = client(stack, key);
});
afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
});

interface EventJson {
  id: string;
  seq: number;
  type: string;
  data: Record<string, unknown>;
  job?: JobJson;
}

async function events(jobId: string): Promise<EventJson[]> {
  const res = await fetch(`${stack.apiUrl}/v1/jobs/${jobId}/events`, { headers: { authorization: `Bearer ${key}` } });
  return ((await res.json()) as { data: EventJson[] }).data;
}

describe("webhook data is the job as of its event", () => {
  it("a job.progress webhook first sent after the job succeeded still shows that progress", async () => {
    let release = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const url = receiver.script("/snap", (i) => (i === 0 ? { status: 200, until: held } : { status: 200 }));
    const job = await api.create({
      prompt: uniquePrompt(""),
      webhook_url: url,
      webhook_events: ["job.started", "job.progress", "job.succeeded"],
    });
    try {
      expect((await api.waitTerminal(job.id)).status).toBe("succeeded");
    } finally {
      release();
    }
    const log = await events(job.id);
    const progress = log.filter((e) => e.type === "job.progress");
    expect(progress.length).toBeGreaterThan(0);
    const all = await receiver.waitFor("/snap", 2 + progress.length, 20_000);
    // Every delivery but the held first one was built after the job had succeeded.
    for (const delivery of all.slice(1)) {
      const body = JSON.parse(delivery.body) as { type: string; data: JobJson };
      const event = log.find((e) => e.id === delivery.headers["webhook-id"]);
      expect(event?.type).toBe(body.type);
      if (body.type === "job.progress") {
        expect(body.data.status).toBe("running");
        expect(body.data.progress.percent).toBe(event?.data.percent);
        expect(body.data.progress.stage).toBe(event?.data.stage);
        expect(body.data.result).toBeNull();
        expect(body.data.finished_at).toBeNull();
        expect(body.data.attempts.map((a) => a.status)).toEqual(["running"]);
      } else {
        expect(body.type).toBe("job.succeeded");
        expect(body.data.status).toBe("succeeded");
        const { result, ...rest } = body.data;
        const { result: eventResult, ...eventRest } = event?.job ?? ({} as JobJson);
        expect(rest).toEqual(eventRest);
        expect(result?.images.map((i) => i.sha256)).toEqual(eventResult?.images.map((i) => i.sha256));
      }
    }
    expect(all.slice(1).some((d) => (JSON.parse(d.body) as { type: string }).type === "job.progress")).toBe(true);
  });

  it("a terminal event still carries the job as it ended after the job is retried", async () => {
    const job = await api.create({ prompt: uniquePrompt("[[sim script=http400]]"), fallback_model: null });
    const failed = await api.waitTerminal(job.id);
    expect(failed.status).toBe("failed");
    expect((await api.post(`/v1/jobs/${job.id}/retry`)).status).toBe(202);
    const done = await api.waitTerminal(job.id);
    expect(done.status).toBe("succeeded");
    const log = await events(job.id);
    const ends = log.filter((e) => e.job !== undefined);
    expect(ends.map((e) => [e.type, e.job?.status, e.job?.progress.stage])).toEqual([
      ["job.failed", "failed", "failed"],
      ["job.succeeded", "succeeded", "done"],
    ]);
    expect(ends[0]?.job?.error?.code).toBe(failed.error?.code);
    expect(ends[0]?.job?.attempts).toEqual(failed.attempts);
    // The succeeded ending has no snapshot of its own (a succeeded job never changes again): it
    // carries the job as it is, images and all.
    expect(ends[1]?.job).toEqual(done);
  });
});
