import { CallBatcher } from "@darkroom/db";
import { type CircuitSnapshot, type CircuitState, circuitKeys, readCircuits } from "@darkroom/queue";
import type { Redis } from "ioredis";

export type { CircuitSnapshot, CircuitState };

/**
 * Per-model circuit breaker shared by every worker process through Redis (docs/circuit-breaker.md).
 *
 * Keys (all under `{prefix}:circuit:{model}`, see `circuitKeys` in @darkroom/queue): `:calls` and
 * `:fails`, sorted sets of the call outcomes of the last window (score = end time in ms); `:state`, a
 * hash `{opened_at, open_until}` present only while the circuit is open or half-open; `:probe`, the
 * one half-open probe's lease (SET NX PX), so exactly one worker over all processes makes the probe
 * call.
 */

/** What the worker does for a new attempt on a model. */
export type CircuitDecision =
  /** Call the model normally. */
  | "call"
  /** The circuit is open (or another worker holds the probe): use the fallback if the job has one. */
  | "skip"
  /** This attempt is the half-open probe: its outcome closes or re-opens the circuit. */
  | "probe";

export type CircuitTransition = "opened" | "closed" | "reopened" | null;

export interface CircuitSettings {
  windowMs: number;
  minCalls: number;
  /** Opens when failures / calls is above this. */
  failureRate: number;
  openMs: number;
  /** How long a probe holds its lease before another worker may probe (a crashed prober). */
  probeLeaseMs: number;
}

/** Failure classes that say nothing about the model's health (the request's or caller's doing). */
const NOT_UPSTREAM_FAULT = new Set([
  "request_bug",
  "content_policy",
  "payload_too_large",
  "canceled",
  "interrupted",
  "wrong_path",
  "auth",
  "quota",
]);

/** Whether an attempt's failure class counts against the model in the circuit's window. */
export function isUpstreamFault(errorClass: string): boolean {
  return !NOT_UPSTREAM_FAULT.has(errorClass);
}

/** Pure threshold rule (also applied inside the Lua script): should a closed circuit open? */
export function shouldOpen(
  calls: number,
  failures: number,
  settings: Pick<CircuitSettings, "minCalls" | "failureRate">,
) {
  return calls >= settings.minCalls && calls > 0 && failures / calls > settings.failureRate;
}

// KEYS: calls, fails, state. ARGV: now, windowMs, minCalls, failureRate, openMs, then (failed(0|1),
// member) per call outcome (every outcome of the model a worker saw meanwhile, in one call).
// Returns [transition, calls, failures]. Only a closed circuit opens here; the probe's outcome
// decides an open one (settleProbe).
const RECORD = `
local now = tonumber(ARGV[1])
local since = now - tonumber(ARGV[2])
for i = 6, #ARGV - 1, 2 do
  redis.call('ZADD', KEYS[1], now, ARGV[i + 1])
  if ARGV[i] == '1' then redis.call('ZADD', KEYS[2], now, ARGV[i + 1]) end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. since)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. since)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
local calls = redis.call('ZCARD', KEYS[1])
local fails = redis.call('ZCARD', KEYS[2])
if redis.call('EXISTS', KEYS[3]) == 0 and calls >= tonumber(ARGV[3]) and calls > 0
   and fails / calls > tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[3], 'opened_at', now, 'open_until', now + tonumber(ARGV[5]))
  return {'opened', calls, fails}
end
return {'', calls, fails}
`;
const RECORD_COMMAND = "darkroomCircuitRecord";

// KEYS: state, probe. ARGV: now, probeLeaseMs, owner. Returns 'call', 'skip' or 'probe'.
const DECIDE = `
local openUntil = redis.call('HGET', KEYS[1], 'open_until')
if not openUntil then return 'call' end
if tonumber(ARGV[1]) < tonumber(openUntil) then return 'skip' end
if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[2]) then return 'probe' end
return 'skip'
`;

// KEYS: calls, fails, state, probe. ARGV: now, ok(0|1), openMs, owner. Returns the transition.
const SETTLE = `
if redis.call('GET', KEYS[4]) ~= ARGV[4] then return '' end
redis.call('DEL', KEYS[4])
if ARGV[2] == '1' then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  return 'closed'
end
local now = tonumber(ARGV[1])
redis.call('HSET', KEYS[3], 'opened_at', now, 'open_until', now + tonumber(ARGV[3]))
return 'reopened'
`;

// KEYS: probe. ARGV: owner. Frees the probe lease when this owner holds it.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** One call outcome waiting to be recorded. */
interface Outcome {
  model: string;
  failed: boolean;
  member: string;
}

export class CircuitBreaker {
  private sequence = 0;
  /** The outcomes of every attempt ending meanwhile go to Redis together, one call per model. */
  private readonly outcomes: CallBatcher<Outcome, CircuitTransition>;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly settings: CircuitSettings,
    private readonly owner: string,
    private readonly now: () => number = Date.now,
  ) {
    if (!(RECORD_COMMAND in redis)) redis.defineCommand(RECORD_COMMAND, { numberOfKeys: 3, lua: RECORD });
    this.outcomes = new CallBatcher((batch) => this.recordMany(batch), {
      keyOf: (outcome) => outcome.member,
      maxBatch: 500,
    });
  }

  private keys(model: string) {
    return circuitKeys(this.prefix, model);
  }

  /** Before an attempt on `model`: call it, skip it (open), or make the half-open probe. */
  async decide(model: string): Promise<CircuitDecision> {
    const k = this.keys(model);
    const answer = await this.redis.eval(
      DECIDE,
      2,
      k.state,
      k.probe,
      this.now(),
      this.settings.probeLeaseMs,
      this.owner,
    );
    return answer as CircuitDecision;
  }

  /**
   * After an attempt on `model` ended (not a probe). `failed` is true only for upstream faults
   * ({@link isUpstreamFault}); cancels and the like should not be recorded at all.
   */
  async record(model: string, failed: boolean): Promise<CircuitTransition> {
    return this.outcomes.submit({ model, failed, member: `${this.now()}:${this.owner}:${++this.sequence}` });
  }

  /** Records a batch of outcomes, one script call per model; a transition is told to its model's last outcome. */
  private async recordMany(batch: Outcome[]): Promise<CircuitTransition[]> {
    const byModel = new Map<string, Outcome[]>();
    for (const outcome of batch) {
      const outcomes = byModel.get(outcome.model);
      if (outcomes === undefined) byModel.set(outcome.model, [outcome]);
      else outcomes.push(outcome);
    }
    const told = new Map<Outcome, CircuitTransition>();
    const script = (this.redis as unknown as Record<string, (...args: (string | number)[]) => Promise<unknown>>)[
      RECORD_COMMAND
    ] as (...args: (string | number)[]) => Promise<unknown>;
    await Promise.all(
      [...byModel].map(async ([model, outcomes]) => {
        const k = this.keys(model);
        const [transition] = (await script.call(
          this.redis,
          k.calls,
          k.fails,
          k.state,
          this.now(),
          this.settings.windowMs,
          this.settings.minCalls,
          this.settings.failureRate,
          this.settings.openMs,
          ...outcomes.flatMap((o) => [o.failed ? 1 : 0, o.member]),
        )) as [string, number, number];
        const last = outcomes[outcomes.length - 1];
        if (transition === "opened" && last !== undefined) told.set(last, "opened");
      }),
    );
    return batch.map((outcome) => told.get(outcome) ?? null);
  }

  /** The probe's outcome: success closes the circuit (with a fresh window), failure re-opens it. */
  async settleProbe(model: string, ok: boolean): Promise<CircuitTransition> {
    const k = this.keys(model);
    const answer = (await this.redis.eval(
      SETTLE,
      4,
      k.calls,
      k.fails,
      k.state,
      k.probe,
      this.now(),
      ok ? 1 : 0,
      this.settings.openMs,
      this.owner,
    )) as string;
    return answer === "" ? null : (answer as CircuitTransition);
  }

  /**
   * A probe lease taken but not used (the attempt did not call the model, or ended without saying
   * anything about it: canceled, worker stopping): another attempt may probe at once.
   */
  async releaseProbe(model: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.keys(model).probe, this.owner);
  }

  /** The state of each model's circuit, for the overview, the dashboard and `/metrics`. */
  snapshot(models: readonly string[]): Promise<CircuitSnapshot[]> {
    return readCircuits(this.redis, this.prefix, models, this.settings.windowMs, this.now());
  }
}

/** The gauge value of `darkroom_circuit_state`: 0 closed, 1 open, 2 half-open. */
export function circuitStateValue(state: CircuitState): number {
  return state === "closed" ? 0 : state === "open" ? 1 : 2;
}
