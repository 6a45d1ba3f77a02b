import { createLogger } from "@darkroom/logger";
import { createTestRedis } from "@darkroom/testing";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { CircuitBreaker, type CircuitSettings } from "./circuit";
import { CircuitGate, circuitOutcome } from "./circuit-gate";

const testRedis = createTestRedis("circuit-gate");
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
const PRIMARY = "gpt-4o-image";
const FALLBACK = "gpt-image-1";
const MODELS = [PRIMARY, FALLBACK];
const logger = createLogger({ name: "worker", level: "silent", pretty: false });

let n = 0;
/** Gates of several worker processes sharing one prefix, all reading one settable clock. */
function setup(workers = 2) {
  const clock = { now: 1_000_000 };
  const prefix = `${testRedis.prefix}:${n++}`;
  const reads = { count: 0 };
  const gates = Array.from({ length: workers }, (_, i) => {
    const breaker = new CircuitBreaker(redis, prefix, SETTINGS, `w${i}`, () => clock.now);
    const snapshot = breaker.snapshot.bind(breaker);
    breaker.snapshot = (models) => {
      reads.count++;
      return snapshot(models);
    };
    return new CircuitGate({ breaker, logger, models: MODELS, openMs: SETTINGS.openMs, now: () => clock.now });
  });
  return { clock, gates, reads };
}

/** A claim that lands on `model` (null: nothing claimable); returns the models it was told are open. */
async function claimOn(gate: CircuitGate, model: string | null) {
  let open: string[] = [];
  const { circuit } = await gate.claim(async (given) => {
    open = given;
    return model === null ? null : { model };
  });
  return { open, circuit };
}

async function openPrimary(gate: CircuitGate) {
  for (let i = 0; i < 4; i++) {
    const { circuit } = await claimOn(gate, PRIMARY);
    if (circuit === null) throw new Error("no circuit");
    await gate.ended(circuit, { failed: true });
  }
}

describe("circuit gate", () => {
  it("reads the state once per cache period: a circuit another worker opened is seen within it", async () => {
    const { clock, gates, reads } = setup();
    const [a, b] = gates as [CircuitGate, CircuitGate];
    expect((await claimOn(a, PRIMARY)).open).toEqual([]);
    expect(reads.count).toBe(1);
    await openPrimary(b);
    expect((await claimOn(b, FALLBACK)).open).toEqual([PRIMARY]); // b opened it: it knows at once
    clock.now += 500;
    const readsBefore = reads.count;
    expect((await claimOn(a, PRIMARY)).open).toEqual([]);
    expect(reads.count).toBe(readsBefore);
    clock.now += 500;
    expect((await claimOn(a, FALLBACK)).open).toEqual([PRIMARY]);
  });

  it("half-open: one claim makes the probe; a lease its attempt does not use is freed at once", async () => {
    const { clock, gates } = setup();
    const [a, b] = gates as [CircuitGate, CircuitGate];
    await openPrimary(a);
    clock.now += SETTINGS.openMs;
    // a's claim takes the probe lease, but the job it claims calls the fallback: the lease is freed.
    const first = await claimOn(a, FALLBACK);
    expect(first.open).toEqual([]);
    expect(first.circuit).toEqual({ model: FALLBACK, probe: false });
    const probe = await claimOn(b, PRIMARY);
    expect(probe.circuit).toEqual({ model: PRIMARY, probe: true });
    // While the probe runs, every other claim still skips the model.
    expect((await claimOn(a, FALLBACK)).open).toEqual([PRIMARY]);
    await b.ended(probe.circuit as { model: string; probe: boolean }, { failed: false });
    expect((await claimOn(b, PRIMARY)).open).toEqual([]);
    expect((await claimOn(a, PRIMARY)).open).toEqual([]);
  });

  it("a probe that ends saying nothing frees its lease; a failed probe re-opens the circuit", async () => {
    const { clock, gates } = setup();
    const [a, b] = gates as [CircuitGate, CircuitGate];
    await openPrimary(a);
    clock.now += SETTINGS.openMs;
    const canceled = (await claimOn(a, PRIMARY)).circuit;
    expect(canceled?.probe).toBe(true);
    await a.ended(canceled as { model: string; probe: boolean }, null);
    const failed = (await claimOn(b, PRIMARY)).circuit;
    expect(failed?.probe).toBe(true);
    await b.ended(failed as { model: string; probe: boolean }, { failed: true });
    expect((await claimOn(a, FALLBACK)).open).toEqual([PRIMARY]);
    clock.now += SETTINGS.openMs - 1;
    expect((await claimOn(b, FALLBACK)).open).toEqual([PRIMARY]);
  });

  it("without Redis every model is called", async () => {
    const offline = new Redis(testRedis.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    const breaker = new CircuitBreaker(offline, "offline", SETTINGS, "w");
    const gate = new CircuitGate({ breaker, logger, models: MODELS, openMs: SETTINGS.openMs });
    const { open, circuit } = await claimOn(gate, PRIMARY);
    expect(open).toEqual([]);
    expect(circuit).toEqual({ model: PRIMARY, probe: false });
    await gate.ended({ model: PRIMARY, probe: false }, { failed: true }); // logged, not thrown
    offline.disconnect();
  });

  it("counts upstream faults, not the caller's or the job's own doing", () => {
    expect(circuitOutcome({ code: "upstream_error", errorClass: "transient_upstream" })).toEqual({ failed: true });
    expect(circuitOutcome({ code: "content_policy", errorClass: "content_policy" })).toEqual({ failed: false });
    expect(circuitOutcome({ code: "bad_request", errorClass: "request_bug" })).toEqual({ failed: false });
    expect(circuitOutcome({ code: "canceled", errorClass: "canceled" })).toBeNull();
    expect(circuitOutcome({ code: "deadline_exceeded", errorClass: "stalled" })).toBeNull();
    expect(circuitOutcome({ code: "internal", errorClass: "protocol_noise" })).toBeNull();
  });
});
