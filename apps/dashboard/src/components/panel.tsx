import type { ReactNode } from "react";

interface PanelProps {
  /** Names the heading, which labels the section. */
  id: string;
  title: string;
  testId?: string;
  /** Controls at the right of the heading bar (a refresh button). */
  actions?: ReactNode;
  children: ReactNode;
}

/** A titled section of the tenants pages: a panel with a heading bar and a padded body. */
export function Panel({ id, title, testId, actions, children }: PanelProps) {
  return (
    <section className="panel" aria-labelledby={id} data-testid={testId}>
      <div className="panel-head">
        <h3 id={id} className="panel-title">
          {title}
        </h3>
        {actions}
      </div>
      <div className="panel-body">{children}</div>
    </section>
  );
}
