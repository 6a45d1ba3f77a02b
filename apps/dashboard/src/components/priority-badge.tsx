import type { Priority } from "@darkroom/domain";

/** `high` and `low` stand out; `normal`, the default, shows nothing. */
export function PriorityBadge({ priority }: { priority: Priority }) {
  if (priority === "normal") return null;
  return (
    <span
      className={`badge priority priority-${priority}`}
      data-testid="priority-badge"
      data-priority={priority}
      title={`${priority} priority`}
    >
      <span aria-hidden="true">{priority === "high" ? "↑ " : "↓ "}</span>
      {priority}
    </span>
  );
}
