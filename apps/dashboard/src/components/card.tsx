import type { ReactNode } from "react";

/** One figure (or a few) of the overview, titled. */
export function Card({ label, testId, children }: { label: string; testId?: string; children: ReactNode }) {
  return (
    <section className="card" data-testid={testId} aria-label={label}>
      <h3 className="card-label">{label}</h3>
      {children}
    </section>
  );
}

/** Terms and values; a third item names the value for tests (`data-testid`, with `data-value`). */
export function Pairs({ items }: { items: [string, string | number, string?][] }) {
  return (
    <dl className="pairs">
      {items.map(([term, value, testId]) => (
        <div key={term}>
          <dt>{term}</dt>
          <dd data-testid={testId} data-value={testId === undefined ? undefined : value}>
            {value}
          </dd>
        </div>
      ))}
    </dl>
  );
}
