import type { AdminCircuit } from "@darkroom/domain";
import { formatTime } from "../format";
import { Card } from "./card";

const STATE_WORDS: Record<AdminCircuit["state"], string> = {
  closed: "closed",
  open: "open: jobs with a fallback skip it",
  half_open: "half-open: the next call is the probe",
};

/**
 * The per-model circuit breaker, shown only while a circuit is not closed: every model's state,
 * its window's calls and upstream failures, and when an open circuit lets its probe through.
 */
export function CircuitCards({ circuits }: { circuits: AdminCircuit[] | null }) {
  if (circuits === null || circuits.every((c) => c.state === "closed")) return null;
  return (
    <div className="cards">
      <Card label="Circuit breaker" testId="card-circuits">
        <ul className="circuits">
          {circuits.map((c) => (
            <li key={c.model} data-testid={`circuit-${c.model}`} data-state={c.state}>
              <code>{c.model}</code>
              <span className={c.state === "closed" ? "circuit-state" : "circuit-state tripped"}>
                {STATE_WORDS[c.state]}
              </span>
              <span className="muted small">
                {c.failures} of {c.calls} calls failed ({Math.round(c.failure_rate * 100)}%)
                {c.reopens_at !== null && <> · probe from {formatTime(c.reopens_at)}</>}
              </span>
            </li>
          ))}
        </ul>
      </Card>
    </div>
  );
}
