import { FAULT_KINDS, type FaultKind } from "./directives";

/** A model failing at a set rate (`POST /_sim/model-faults`), whatever the prompt. */
export interface ModelFault {
  model: string;
  /** The share of the model's calls that fail, 0..1 (0 removes the setting). */
  fail_rate: number;
  /** The fault kind of a failing call; `http500` on chat, `gen500` on images/generations when absent. */
  kind?: FaultKind;
}

interface Counter {
  rate: number;
  kind: FaultKind | undefined;
  calls: number;
}

/**
 * Fails each model's calls at its set rate, deterministically: the k-th call since the rate was set
 * fails when floor(k·rate) grows, so any run of calls fails as close to the rate as whole calls allow
 * (0.5: every second call; 0.75: the 2nd, 3rd and 4th of every four; 1: all).
 */
export class ModelFaults {
  private readonly models = new Map<string, Counter>();

  /** Sets (or, with `fail_rate` 0, removes) a model's rate; throws naming a wrong field. */
  set(input: Record<string, unknown>): void {
    const { model, fail_rate: rate, kind } = input;
    if (typeof model !== "string" || model === "") throw new Error("model must be a non-empty string");
    if (typeof rate !== "number" || !(rate >= 0 && rate <= 1)) throw new Error("fail_rate must be a number in 0..1");
    if (kind !== undefined && !(FAULT_KINDS as readonly unknown[]).includes(kind)) {
      throw new Error(`kind must be one of the simulator's fault kinds, got ${JSON.stringify(kind)}`);
    }
    if (rate === 0) this.models.delete(model);
    else this.models.set(model, { rate, kind: kind as FaultKind | undefined, calls: 0 });
  }

  /** The fault of this call of `model`, or null when it goes as the prompt says. */
  next(model: string, fallbackKind: FaultKind): FaultKind | null {
    const counter = this.models.get(model);
    if (counter === undefined) return null;
    counter.calls += 1;
    const fails = Math.floor(counter.calls * counter.rate) > Math.floor((counter.calls - 1) * counter.rate);
    return fails ? (counter.kind ?? fallbackKind) : null;
  }

  /** The settings as `POST /_sim/model-faults` answers them. */
  list(): Array<{ model: string; fail_rate: number; kind: FaultKind | null; calls: number }> {
    return [...this.models].map(([model, c]) => ({ model, fail_rate: c.rate, kind: c.kind ?? null, calls: c.calls }));
  }
}
