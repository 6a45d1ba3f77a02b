import type { ReactNode } from "react";
import type { Route } from "../router";
import { RouteLink } from "./route-link";

interface TopBarProps {
  route: Route;
  navigate(route: Route): void;
  onSignOut(): void;
  /** The view's own status (the jobs view's live indicator). */
  children?: ReactNode;
}

export function TopBar({ route, navigate, onSignOut, children }: TopBarProps) {
  return (
    <header className="topbar">
      <h1>Darkroom</h1>
      <nav className="nav" aria-label="Views">
        <RouteLink
          to={{ view: "jobs" }}
          navigate={navigate}
          current={route.view === "jobs" || route.view === "job"}
          testId="nav-jobs"
        >
          Jobs
        </RouteLink>
        <RouteLink
          to={{ view: "tenants" }}
          navigate={navigate}
          current={route.view === "tenants" || route.view === "tenant"}
          testId="nav-tenants"
        >
          Tenants
        </RouteLink>
        <a href="/admin/queues" data-testid="nav-queues">
          Queues
        </a>
      </nav>
      {children}
      <button type="button" className="ghost sign-out" onClick={onSignOut} data-testid="sign-out">
        Sign out
      </button>
    </header>
  );
}
