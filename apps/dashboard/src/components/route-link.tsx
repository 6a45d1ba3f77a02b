import type { MouseEvent, ReactNode } from "react";
import { type Route, routePath } from "../router";

interface RouteLinkProps {
  to: Route;
  navigate(route: Route): void;
  children: ReactNode;
  className?: string;
  current?: boolean;
  testId?: string;
}

/** A real link (middle-click and "open in new tab" work) that changes the view in place on a plain click. */
export function RouteLink({ to, navigate, children, className, current, testId }: RouteLinkProps) {
  const click = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return (
    <a
      href={routePath(to)}
      onClick={click}
      className={className}
      aria-current={current === true ? "page" : undefined}
      data-testid={testId}
    >
      {children}
    </a>
  );
}
