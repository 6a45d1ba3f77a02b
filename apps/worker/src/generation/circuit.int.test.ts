import { createTestRedis } from "@darkroom/testing";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { CircuitBreaker, type CircuitSettings, isUpstreamFault, shouldOpen } from "./circuit";

const testRedis = createTestRedis("circuit");
const redis = new Redis(testRedis.url, { maxRetriesPerRequest: 1 });
afterAll(async () => {
  redis.disconnect();
  await testRedis.cleanup();
});

const SETTINGS: CircuitSettings = {
  windowMs: 30_000,
  minCalls: 4,
  failureRate: 0.5,
  openMs: 2_000,
  probeLeaseMs: 60_000,
};
const MODEL = "gpt-4o-image";

let n = 0;
/** Breakers of several "workers" sharing one prefix, all reading one settable clock. */
function setup(workers = 1) {
  const clock = { now: 1_000_000 };
  const prefix = `${testRedis.prefix}:${n++}`;
  const breakers = Array.from(
    { length: workers },
    (_, i) => new CircuitBreaker(redis, prefix, SETTINGS, `w${i}`, () => clock.now),
  );
  return { clock, breakers };
}

describe("threshold rule", () => {
  it("opens only with enough calls and a failure share above the rate", () => {
    expect(shouldOpen(3, 3, SETTINGS)).toBe(false);
    expect(shouldOpen(4, 2, SETTINGS)).toBe(false);
    expect(shouldOpen(4, 3, SETTINGS)).toBe(true);
  });

  it("does not count content policy, bad requests or cancels against the model", () => {
    for (const c of ["content_policy", "request_bug", "canceled", "payload_too_large"]) {
      expect(isUpstreamFault(c)).toBe(false);
    }
    for (const c of ["transient_upstream", "network", "no_image", "truncated", "mid_stream_error", "stalled"]) {
      expect(isUpstreamFault(c)).toBe(true);
    }
  });
});

describe("circuit breaker in Redis", () => {
  it("stays closed below the minimum calls and at a failure rate not above the threshold", async () => {
    const { breakers } = setup();
    const [b] = breakers as [CircuitBreaker];
    // 3 failures: below the minimum of 4 calls.
    const [lone] = setup().breakers as [CircuitBreaker];
    for (let i = 0; i < 3; i++) expect(await lone.record(MODEL, true)).toBeNull();
    expect(await lone.decide(MODEL)).toBe("call");
    // 3 successes then 3 failures = 50 %: not above 0.5; one more failure is.
    for (let i = 0; i < 3; i++) expect(await b.record(MODEL, false)).toBeNull();
    for (let i = 0; i < 3; i++) expect(await b.record(MODEL, true)).toBeNull();
    expect(await b.decide(MODEL)).toBe("call");
    expect(await b.record(MODEL, true)).toBe("opened");
    expect(await b.decide(MODEL)).toBe("skip");
  });

  it("records the outcomes of attempts ending together in one call, and tells the opening once", async () => {
    const { breakers } = setup();
    const [b] = breakers as [CircuitBreaker];
    // 2 successes and 5 failures in one turn: all counted; the circuit opens (5/7 > 0.5).
    const outcomes = [false, true, false, true, true, true, true];
    const told = await Promise.all(outcomes.map((failed) => b.record(MODEL, failed)));
    expect(told.filter((t) => t === "opened")).toHaveLength(1);
    expect(told.filter((t) => t === null)).toHaveLength(outcomes.length - 1);
    const [snap] = await b.snapshot([MODEL]);
    expect(snap).toMatchObject({ state: "open", calls: 7, failures: 5 });
  });

  it("forgets outcomes older than the window", async () => {
    const { clock, breakers } = setup();
    const [b] = breakers as [CircuitBreaker];
    for (let i = 0; i < 3; i++) await b.record(MODEL, true);
    clock.now += SETTINGS.windowMs + 1;
    expect(await b.record(MODEL, true)).toBeNull();
    const [snap] = await b.snapshot([MODEL]);
    expect(snap).toMatchObject({ state: "closed", calls: 1, failures: 1 });
  });

  it("after the open period lets exactly one worker probe; success closes, failure re-opens", async () => {
    const { clock, breakers } = setup(3);
    const [a, b, c] = breakers as [CircuitBreaker, CircuitBreaker, CircuitBreaker];
    for (let i = 0; i < 4; i++) await a.record(MODEL, true);
    expect((await a.snapshot([MODEL]))[0]).toMatchObject({ state: "open", failureRate: 1 });
    expect(await b.decide(MODEL)).toBe("skip");

    clock.now += SETTINGS.openMs;
    expect((await a.snapshot([MODEL]))[0]?.state).toBe("half_open");
    const decisions = await Promise.all([a.decide(MODEL), b.decide(MODEL), c.decide(MODEL)]);
    expect(decisions.filter((d) => d === "probe")).toHaveLength(1);
    const prober = breakers[decisions.indexOf("probe")] as CircuitBreaker;
    // Only the prober settles it.
    expect(await (prober === a ? b : a).settleProbe(MODEL, true)).toBeNull();
    expect(await prober.settleProbe(MODEL, false)).toBe("reopened");
    expect(await c.decide(MODEL)).toBe("skip");
    const reopened = (await a.snapshot([MODEL]))[0];
    expect(reopened?.reopensAt?.getTime()).toBe(clock.now + SETTINGS.openMs);

    clock.now += SETTINGS.openMs;
    expect(await c.decide(MODEL)).toBe("probe");
    expect(await c.settleProbe(MODEL, true)).toBe("closed");
    expect(await a.decide(MODEL)).toBe("call");
    // A fresh window: the old failures do not open it again at once.
    expect(await a.record(MODEL, true)).toBeNull();
    expect((await a.snapshot([MODEL]))[0]).toMatchObject({ state: "closed", calls: 1 });
  });

  it("keeps each model's circuit apart", async () => {
    const { breakers } = setup();
    const [b] = breakers as [CircuitBreaker];
    for (let i = 0; i < 4; i++) await b.record(MODEL, true);
    expect(await b.decide(MODEL)).toBe("skip");
    expect(await b.decide("gpt-image-1")).toBe("call");
  });
});
