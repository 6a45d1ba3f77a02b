import { readSse, type Stack, startStack } from "@darkroom/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, uniquePrompt } from "./support";

// One Postgres reader per job per API process (apps/api/src/http/event-hub.ts): every SSE client
// and `Prefer: wait` caller of a job shares its feed, which stops the moment the last one leaves.
let stack: Stack;
let key: string;
let api: ReturnType<typeof client>;
beforeAll(async () => {
  stack = await startStack({ label: "event_hub", simulatorStepMs: 5 });
  key = await stack.newApiKey();
  api = client(stack, key);
});
afterAll(() => stack?.stop());

const auth = () => ({ authorization: `Bearer ${key}` });

interface HubMetrics {
  reads: Record<string, number>;
  feeds: number;
}

async function hubMetrics(url: string): Promise<HubMetrics> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const reads: Record<string, number> = {};
  for (const m of text.matchAll(/^darkroom_event_reads_total\{read="(\w+)"\} (\d+)/gm))
    reads[m[1] ?? ""] = Number(m[2]);
  const feeds = Number(/^darkroom_event_feeds (\d+)/m.exec(text)?.[1] ?? Number.NaN);
  return { reads, feeds };
}

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function eventLog(jobId: string): Promise<number[]> {
  const res = await fetch(`${stack.apiUrl}/v1/jobs/${jobId}/events`, { headers: auth() });
  return ((await res.json()) as { data: { seq: number }[] }).data.map((e) => e.seq);
}

const seqsOf = (events: { id?: string }[]) => events.filter((e) => e.id !== undefined).map((e) => Number(e.id));

describe("the event hub", () => {
  it("feeds 20 SSE clients and 3 Prefer: wait callers of a job from one reader: reads grow with signals, not clients", async () => {
    // The fallback poll is far away: every read after the start follows a Redis signal.
    const hubApi = (await stack.addApi({ EVENTS_FALLBACK_POLL_MS: "60000" })).url;
    const created = await api.create({ prompt: uniquePrompt("[[sim step_ms=150]]") });
    const CLIENTS = 20;
    const WAITERS = 3;
    const streams = Array.from({ length: CLIENTS }, () =>
      readSse(`${hubApi}/v1/jobs/${created.id}/events`, { headers: auth(), timeoutMs: 30_000 }),
    );
    const waits = Array.from({ length: WAITERS }, () =>
      fetch(`${hubApi}/v1/jobs/${created.id}`, { headers: { ...auth(), prefer: "wait=30" } }),
    );
    const reads = await Promise.all(streams);
    const answers = await Promise.all(waits);
    const log = await eventLog(created.id);
    expect(log.length).toBeGreaterThanOrEqual(6);
    for (const read of reads) {
      expect(read.endedByServer).toBe(true);
      // Every event exactly once, in seq order: the whole log.
      expect(seqsOf(read.events)).toEqual(log);
      expect(read.events.at(-1)?.event).toBe("job.succeeded");
    }
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(((await answer.json()) as { status: string }).status).toBe("succeeded");
    }
    const { reads: count } = await until(
      () => hubMetrics(hubApi),
      (m) => m.feeds === 0,
    );
    // One feed read per signal at most (each commit sends one; several may share a read), plus
    // its opening; a client that joins late reads its own gap once; a wait reads its job twice.
    const feedReads = (count.open ?? 0) + (count.signal ?? 0) + (count.poll ?? 0);
    expect(feedReads).toBeLessThanOrEqual(log.length + 2);
    expect(count.replay ?? 0).toBeLessThanOrEqual(CLIENTS);
    expect(count.wait ?? 0).toBeLessThanOrEqual(2 * WAITERS);
  });

  it("a Prefer: wait=60 caller that leaves after 1 s stops its feed: no more reads, Redis unsubscribed", async () => {
    const POLL_MS = 200;
    const hubApi = (await stack.addApi({ EVENTS_FALLBACK_POLL_MS: String(POLL_MS) })).url;
    const created = await api.create({ prompt: uniquePrompt("[[sim step_ms=2000]]") });
    const gone = new AbortController();
    const waiting = fetch(`${hubApi}/v1/jobs/${created.id}`, {
      headers: { ...auth(), prefer: "wait=60" },
      signal: gone.signal,
    }).catch(() => null);
    // The feed is open and polling.
    const open = await until(
      () => hubMetrics(hubApi),
      (m) => m.feeds === 1 && (m.reads.poll ?? 0) >= 2,
    );
    expect(open.feeds).toBe(1);
    gone.abort();
    expect(await waiting).toBeNull();
    const closed = await until(
      () => hubMetrics(hubApi),
      (m) => m.feeds === 0,
      3000,
    );
    const redis = new Redis(stack.redis.url);
    try {
      const channel = `${stack.redis.prefix}:signals:events:${created.id}`;
      await until(
        async () => Number(((await redis.pubsub("NUMSUB", channel)) as [string, number])[1]),
        (n) => n === 0,
        3000,
      );
    } finally {
      redis.disconnect();
    }
    // Several poll periods later, nothing more was read for the job nobody waits for.
    await new Promise((r) => setTimeout(r, 5 * POLL_MS));
    const later = await hubMetrics(hubApi);
    expect(later.reads).toEqual(closed.reads);
    expect(later.feeds).toBe(0);
    await api.post(`/v1/jobs/${created.id}/cancel`);
  });

  it("a client joining late with Last-Event-ID gets exactly the missing events, then the live ones", async () => {
    const hubApi = (await stack.addApi({ EVENTS_FALLBACK_POLL_MS: "60000" })).url;
    const created = await api.create({ prompt: uniquePrompt("[[sim step_ms=200]]") });
    const url = `${hubApi}/v1/jobs/${created.id}/events`;
    let joined: () => void = () => undefined;
    const midStream = new Promise<void>((resolve) => {
      joined = resolve;
    });
    // The first client keeps the feed open and ahead of the late one.
    const first = readSse(url, {
      headers: auth(),
      timeoutMs: 30_000,
      onEvent: (e) => {
        if (e.event === "job.progress") joined();
      },
    });
    await midStream;
    const before = await hubMetrics(hubApi);
    const log = await eventLog(created.id);
    const resumeAt = log[1] ?? 0;
    const late = await readSse(url, { headers: { ...auth(), "last-event-id": String(resumeAt) }, timeoutMs: 30_000 });
    const whole = await eventLog(created.id);
    expect(late.endedByServer).toBe(true);
    expect(seqsOf(late.events)).toEqual(whole.filter((seq) => seq > resumeAt));
    expect(late.events.at(-1)?.event).toBe("job.succeeded");
    // It read its own gap, and followed the same feed as the first client.
    const after = await hubMetrics(hubApi);
    expect((after.reads.replay ?? 0) - (before.reads.replay ?? 0)).toBeGreaterThanOrEqual(1);
    expect((after.reads.open ?? 0) - (before.reads.open ?? 0)).toBe(0);
    expect(seqsOf((await first).events)).toEqual(whole);
  });
});
