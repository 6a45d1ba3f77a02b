import type { Redis } from "ioredis";

/**
 * The per-model circuit breaker's state as the workers keep it in Redis (the breaker itself is the
 * worker's `generation/circuit.ts`; docs/circuit-breaker.md). Read here too, for the API's overview.
 */
export type CircuitState = "closed" | "open" | "half_open";

export interface CircuitSnapshot {
  model: string;
  state: CircuitState;
  /** Calls that ended in the window (CIRCUIT_WINDOW_SECONDS). */
  calls: number;
  /** Of them, upstream failures. */
  failures: number;
  failureRate: number;
  /** When an open circuit lets its probe through; null when closed. */
  reopensAt: Date | null;
}

/**
 * A model's keys: `:calls` and `:fails`, sorted sets of the call outcomes of the last window
 * (score = end time in ms); `:state`, a hash `{opened_at, open_until}` present only while the
 * circuit is open or half-open; `:probe`, the one half-open probe's lease.
 */
export function circuitKeys(prefix: string, model: string) {
  const base = `${prefix}:circuit:${model}`;
  return { calls: `${base}:calls`, fails: `${base}:fails`, state: `${base}:state`, probe: `${base}:probe` };
}

/** Each model's circuit (one round trip for all). */
export async function readCircuits(
  redis: Redis,
  prefix: string,
  models: readonly string[],
  windowMs: number,
  now: number = Date.now(),
): Promise<CircuitSnapshot[]> {
  const since = now - windowMs;
  const pipeline = redis.multi();
  for (const model of models) {
    const k = circuitKeys(prefix, model);
    pipeline.zcount(k.calls, since, "+inf");
    pipeline.zcount(k.fails, since, "+inf");
    pipeline.hget(k.state, "open_until");
  }
  const results = (await pipeline.exec()) ?? [];
  return models.map((model, i) => {
    const calls = Number(results[i * 3]?.[1] ?? 0);
    const failures = Number(results[i * 3 + 1]?.[1] ?? 0);
    const openUntil = results[i * 3 + 2]?.[1] as string | null | undefined;
    const until = openUntil === null || openUntil === undefined ? null : Number(openUntil);
    const state: CircuitState = until === null ? "closed" : now < until ? "open" : "half_open";
    return {
      model,
      state,
      calls,
      failures,
      failureRate: calls === 0 ? 0 : failures / calls,
      reopensAt: until === null ? null : new Date(until),
    };
  });
}
