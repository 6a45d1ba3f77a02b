import type { Logger } from "@darkroom/logger";
import type { CircuitBreaker, CircuitTransition } from "./circuit";
import { isUpstreamFault } from "./circuit";

/** How long one read of every circuit's state serves the process's claims. */
export const CIRCUIT_CACHE_MS = 1_000;

/** What the circuit breaker needs to know of one claimed attempt until it ends. */
export interface AttemptCircuit {
  model: string;
  /** This attempt is its model's half-open probe: its outcome closes or re-opens the circuit. */
  probe: boolean;
}

/** What the gate says before a claim. */
export interface ClaimCircuits {
  /** Models whose circuit is open: the claim sends an attempt on one of them to the job's fallback. */
  open: string[];
  /** Models whose half-open probe lease this claim holds. */
  probes: string[];
}

export interface CircuitGateDeps {
  breaker: Pick<CircuitBreaker, "decide" | "record" | "settleProbe" | "releaseProbe" | "snapshot">;
  logger: Logger;
  models: readonly string[];
  openMs: number;
  cacheMs?: number;
  now?: () => number;
}

/**
 * The failure of an attempt as its model's circuit counts it: null when it says nothing about the
 * model and is not recorded at all (a cancel, an interrupted call, the job's own deadline, a bug of
 * ours), else whether it is an upstream fault (content policy and bad requests are not).
 */
export function circuitOutcome(failure: { code: string; errorClass: string }): { failed: boolean } | null {
  if (failure.errorClass === "canceled" || failure.errorClass === "interrupted") return null;
  if (failure.code === "internal" || failure.code === "deadline_exceeded") return null;
  return { failed: isUpstreamFault(failure.errorClass) };
}

/**
 * Applies the per-model circuit breaker (circuit.ts) to the processor's attempts: before a claim,
 * which models are open (the claim then sends the job to its fallback) and whether this claim makes
 * a half-open model's probe; after the attempt, its outcome. The open/closed state is read from
 * Redis at most once per {@link CIRCUIT_CACHE_MS} for the whole process, so a closed circuit costs
 * no round trip per attempt. Staleness is bounded and harmless: a circuit opened by another process
 * is seen up to one cache period late (a few more calls to the failing model, recorded); an open
 * circuit cannot close before its open period ends, and past it every claim asks Redis (`decide`).
 * Redis failures never fail an attempt: the model is then called as if closed.
 */
export class CircuitGate {
  private readonly now: () => number;
  private readonly cacheMs: number;
  /** Model -> open_until (ms) of every circuit not closed, as last read. */
  private openUntil = new Map<string, number>();
  private readAt = Number.NEGATIVE_INFINITY;
  private reading: Promise<void> | null = null;

  constructor(private readonly deps: CircuitGateDeps) {
    this.now = deps.now ?? Date.now;
    this.cacheMs = deps.cacheMs ?? CIRCUIT_CACHE_MS;
  }

  private async beforeClaim(): Promise<ClaimCircuits> {
    const open: string[] = [];
    const probes: string[] = [];
    try {
      await this.refresh();
      for (const [model, until] of [...this.openUntil]) {
        if (this.now() < until) {
          open.push(model);
          continue;
        }
        const decision = await this.deps.breaker.decide(model);
        if (decision === "skip") open.push(model);
        else if (decision === "probe") probes.push(model);
        else this.openUntil.delete(model); // closed meanwhile by another process's probe
      }
    } catch (err) {
      this.deps.logger.warn({ err }, "circuit state not read: the claim calls every model");
    }
    return { open, probes };
  }

  /**
   * Runs a claim with the models open now (`claim` passes them to claimJob), then frees the probe
   * leases the claimed attempt does not use (all of them when nothing was claimed, or it threw).
   */
  async claim<T extends { model: string }>(
    claim: (open: string[]) => Promise<T | null>,
  ): Promise<{ claimed: T | null; circuit: AttemptCircuit | null }> {
    const circuits = await this.beforeClaim();
    let model: string | null = null;
    try {
      const claimed = await claim(circuits.open);
      model = claimed?.model ?? null;
      return { claimed, circuit: model === null ? null : { model, probe: circuits.probes.includes(model) } };
    } finally {
      const unused = circuits.probes.filter((m) => m !== model);
      await Promise.all(unused.map((m) => this.deps.breaker.releaseProbe(m).catch(() => undefined)));
    }
  }

  /**
   * Whether `model`'s circuit is closed, as the shared state (read at most once per cache period)
   * says. A hedged run starts its fallback alongside only then: an open circuit means the model is
   * failing, a half-open one lets only its probe through, and a hedge is an extra call, never a
   * probe. A Redis failure reads as closed, as for claims.
   */
  async isClosed(model: string): Promise<boolean> {
    try {
      await this.refresh();
    } catch (err) {
      this.deps.logger.warn({ err, model }, "circuit state not read: the model is called");
      return true;
    }
    return !this.openUntil.has(model);
  }

  /** The attempt ended: `outcome` null when it says nothing about the model (see circuitOutcome). */
  async ended(attempt: AttemptCircuit, outcome: { failed: boolean } | null): Promise<void> {
    const { breaker, logger } = this.deps;
    try {
      if (outcome === null) {
        if (attempt.probe) await breaker.releaseProbe(attempt.model);
        return;
      }
      const transition = attempt.probe
        ? await breaker.settleProbe(attempt.model, !outcome.failed)
        : await breaker.record(attempt.model, outcome.failed);
      if (transition !== null) await this.transitioned(attempt.model, transition);
    } catch (err) {
      logger.warn({ err, model: attempt.model }, "circuit outcome not recorded");
    }
  }

  private async transitioned(model: string, transition: Exclude<CircuitTransition, null>): Promise<void> {
    if (transition === "closed") {
      this.openUntil.delete(model);
      this.deps.logger.info({ model }, "circuit closed: the probe call succeeded; the model is called again");
      return;
    }
    this.openUntil.set(model, this.now() + this.deps.openMs);
    const [figures] = await this.deps.breaker.snapshot([model]);
    if (figures?.reopensAt) this.openUntil.set(model, figures.reopensAt.getTime());
    const fields = {
      model,
      calls: figures?.calls,
      failures: figures?.failures,
      failure_rate: figures?.failureRate,
      reopens_at: figures?.reopensAt?.toISOString() ?? null,
    };
    this.deps.logger.warn(
      fields,
      transition === "opened"
        ? "circuit opened: too many upstream failures; jobs with a fallback skip the model until the probe"
        : "circuit reopened: the probe call failed",
    );
  }

  private async refresh(): Promise<void> {
    if (this.now() - this.readAt < this.cacheMs) return;
    this.reading ??= this.deps.breaker
      .snapshot(this.deps.models)
      .then((circuits) => {
        this.openUntil = new Map(
          circuits.flatMap((c) => (c.reopensAt === null ? [] : [[c.model, c.reopensAt.getTime()] as const])),
        );
        this.readAt = this.now();
      })
      .finally(() => {
        this.reading = null;
      });
    await this.reading;
  }
}
