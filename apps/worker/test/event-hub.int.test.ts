import { readSse, type Stack, startStack } from "@darkroom/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, uniquePrompt } from "./support";

// One Postgres reader per job per API process (apps/api/src/http/event-hub.ts): every SSE client
// and `Prefer: wait` caller of a job shares its feed, which stops the moment the last one leaves.
let stack: Stack;
let key: string;
let api: ReturnType<typeof client>;
// Extra API processes of the hub tests, each with its own fallback poll, started together up front.
const POLL_MS = 200;
const hubApis = { signalOnly: "", polling: "", lateJoin: "" };
beforeAll(async () => {
  stack = await startStack({ label: "event_hub", simulatorStepMs: 5 });
  const hubApi = async (pollMs: number) => (await stack.addApi({ EVENTS_FALLBACK_POLL_MS: String(pollMs) })).url;
  // signalOnly and lateJoin poll far away: every read after the start follows a Redis signal.
  [key, hubApis.signalOnly, hubApis.polling, hubApis.lateJoin] = await Promise.all([
    stack.newApiKey(),
    hubApi(60_000),
    hubApi(POLL_MS),
    hubApi(60_000),
  ]);
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

describe("the event hub", () => {
  it("feeds 20 SSE clients and 3 Prefer: wait callers of a job from one reader: reads grow with signals, not clients", async () => {
    const hubApi = hubApis.signalOnly;
    const created = await api.create({ prompt: uniquePrompt("[[sim step_ms=80]]") });
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
      expect(read.ids.map(Number)).toEqual(log);
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
    const hubApi = hubApis.polling;
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
    const hubApi = hubApis.lateJoin;
    const created = await api.create({ prompt: uniquePrompt("[[sim step_ms=100]]") });
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
    // The first progress the client saw may be the live one, sent before its commit: wait until a
    // durable progress is committed and the feed (on its signal, or its poll) has read past it, so
    // that the late client's resume point is behind the feed and it must read its own gap.
    const log = await until(
      () => eventLog(created.id),
      (seqs) => seqs.length >= 4,
    );
    await new Promise((r) => setTimeout(r, 2 * POLL_MS));
    const before = await hubMetrics(hubApi);
    const resumeAt = log[1] ?? 0;
    const late = await readSse(url, { headers: { ...auth(), "last-event-id": String(resumeAt) }, timeoutMs: 30_000 });
    const whole = await eventLog(created.id);
    expect(late.endedByServer).toBe(true);
    expect(late.ids.map(Number)).toEqual(whole.filter((seq) => seq > resumeAt));
    expect(late.events.at(-1)?.event).toBe("job.succeeded");
    // It read its own gap, and followed the same feed as the first client.
    const after = await hubMetrics(hubApi);
    expect((after.reads.replay ?? 0) - (before.reads.replay ?? 0)).toBeGreaterThanOrEqual(1);
    expect((after.reads.open ?? 0) - (before.reads.open ?? 0)).toBe(0);
    expect((await first).ids.map(Number)).toEqual(whole);
  });
});

interface ProgressData {
  attempt: number;
  percent: number;
  stage: string;
}
interface StreamedEvent {
  seq: number | null;
  type: string;
  live?: boolean;
  data: ProgressData;
}
const STAGES = ["queued", "starting", "queuing_upstream", "generating", "storing", "done"];
const markOf = (d: ProgressData) => `${d.attempt}/${d.stage}/${d.percent}`;

describe("live progress", () => {
  it("reaches a client ahead of its 250 ms tick commit, and its durable event then comes as an id alone", async () => {
    // Progress every 300 ms: each change is committed at the worker's next tick, 0 to 250 ms later.
    const created = await api.create({ prompt: uniquePrompt("[[sim step_ms=300]]") });
    const arrivals = new Map<string, number>();
    const read = await readSse(`${stack.apiUrl}/v1/jobs/${created.id}/events`, {
      headers: auth(),
      // The whole job, streamed: about 26 s while the other test files load both cores, so 30 s
      // cut it short in one run; the test's own limit is 60 s.
      timeoutMs: 50_000,
      onEvent: (e) => {
        const event = JSON.parse(e.data) as StreamedEvent;
        if (event.live === true) {
          expect(e.id).toBeUndefined();
          expect(event.seq).toBeNull();
          arrivals.set(markOf(event.data), Date.now());
        }
      },
    });
    expect(read.endedByServer).toBe(true);
    const log = (await (await fetch(`${stack.apiUrl}/v1/jobs/${created.id}/events`, { headers: auth() })).json()) as {
      data: (StreamedEvent & { seq: number; created_at: string })[];
    };
    // No gap: the stream's ids (full events and id-only ones) are the whole log, each once.
    expect(read.ids.map(Number)).toEqual(log.data.map((e) => e.seq));
    const leads: number[] = [];
    for (const durable of log.data.filter((e) => e.type === "job.progress")) {
      const liveAt = arrivals.get(markOf(durable.data));
      if (liveAt === undefined) continue;
      leads.push(Date.parse(durable.created_at) - liveAt);
      // Shown live already: its data is not sent a second time.
      expect(read.events.some((e) => e.id === String(durable.seq))).toBe(false);
    }
    expect(leads.length).toBeGreaterThanOrEqual(3);
    // The live progress arrived before the durable row was even written (half the tick on average).
    leads.sort((a, b) => a - b);
    expect(leads[Math.floor(leads.length / 2)]).toBeGreaterThan(20);
    // Each progress is dispatched once (live or durable), and never goes back.
    const shown = read.events
      .map((e) => JSON.parse(e.data) as StreamedEvent)
      .filter((e) => e.type === "job.progress")
      .map((e) => e.data);
    expect(new Set(shown.map(markOf)).size).toBe(shown.length);
    for (const [i, p] of shown.entries()) {
      const prev = shown[i - 1];
      if (prev === undefined || prev.attempt !== p.attempt) continue;
      const order = STAGES.indexOf(p.stage) - STAGES.indexOf(prev.stage);
      expect(order > 0 || (order === 0 && p.percent > prev.percent)).toBe(true);
    }
  });

  it("a stream that opens the job's feed shows no live progress ahead of the events already committed", async () => {
    // Commit signals and live progress published without pause on the job's channel while a fresh
    // stream opens its feed: the stream's first event must still be the committed job.queued (the
    // feed is ready only once a read begun after it listened has handed it out).
    const publisher = new Redis(stack.redis.url);
    try {
      for (let round = 0; round < 10; round++) {
        const created = await api.create({ prompt: uniquePrompt("[[sim step_ms=5000]]") });
        const channel = `${stack.env.QUEUE_PREFIX}:signals:events:${created.id}`;
        let percent = 0;
        const flood = setInterval(() => {
          percent = (percent + 1) % 100;
          const live = { job_id: created.id, attempt: 9, percent, stage: "generating", at: new Date().toISOString() };
          // A commit signal as well: its read may be under way when the stream's feed opens.
          void publisher.publish(channel, "1");
          void publisher.publish(channel, JSON.stringify(live));
        }, 1);
        try {
          const read = await readSse(`${stack.apiUrl}/v1/jobs/${created.id}/events`, {
            headers: auth(),
            timeoutMs: 10_000,
            stop: (_event, all) => all.length >= 2,
          });
          expect(read.events[0]?.event, `round ${round}`).toBe("job.queued");
          expect(JSON.parse(read.events[0]?.data ?? "{}")).not.toHaveProperty("live", true);
        } finally {
          clearInterval(flood);
          await fetch(`${stack.apiUrl}/v1/jobs/${created.id}/cancel`, { method: "POST", headers: auth() });
        }
      }
    } finally {
      publisher.disconnect();
    }
  });

  it("a client that reconnects with the Last-Event-ID it holds after live progress gets no gap and nothing twice", async () => {
    const created = await api.create({ prompt: uniquePrompt("[[sim step_ms=120]]") });
    const url = `${stack.apiUrl}/v1/jobs/${created.id}/events`;
    const first = await readSse(url, {
      headers: auth(),
      timeoutMs: 30_000,
      stop: (_e, all) => all.filter((x) => x.event === "job.progress" && x.id === undefined).length >= 3,
    });
    expect(first.endedByServer).toBe(false);
    const second = await readSse(url, {
      headers: { ...auth(), "last-event-id": first.lastEventId },
      timeoutMs: 30_000,
    });
    expect(second.endedByServer).toBe(true);
    const log = (await (await fetch(url, { headers: auth() })).json()) as { data: { seq: number }[] };
    expect([...first.ids, ...second.ids].map(Number)).toEqual(log.data.map((e) => e.seq));
  });

  it("with live=false every event comes in full with its seq, and nothing else", async () => {
    const created = await api.create({ prompt: uniquePrompt("[[sim step_ms=100]]") });
    const read = await readSse(`${stack.apiUrl}/v1/jobs/${created.id}/events?live=false`, {
      headers: auth(),
      timeoutMs: 30_000,
    });
    const log = (await (await fetch(`${stack.apiUrl}/v1/jobs/${created.id}/events`, { headers: auth() })).json()) as {
      data: { seq: number }[];
    };
    expect(read.events.map((e) => Number(e.id))).toEqual(log.data.map((e) => e.seq));
    expect(read.ids).toEqual(read.events.map((e) => e.id));
  });
});
