import type { AdminApi, UnauthorizedError } from "../api-client";
import type { Route } from "../router";
import { TenantDetail } from "./tenant-detail";
import { TenantList } from "./tenant-list";
import { TopBar } from "./top-bar";

interface TenantsViewProps {
  api: AdminApi;
  route: Route & { view: "tenants" | "tenant" };
  navigate(route: Route): void;
  onSignOut(): void;
  onUnauthorized(error: UnauthorizedError): void;
}

export function TenantsView({ api, route, navigate, onSignOut, onUnauthorized }: TenantsViewProps) {
  return (
    <div className="app">
      <TopBar route={route} navigate={navigate} onSignOut={onSignOut} />
      <main>
        {route.view === "tenant" ? (
          <TenantDetail
            key={route.tenantId}
            api={api}
            tenantId={route.tenantId}
            navigate={navigate}
            onUnauthorized={onUnauthorized}
          />
        ) : (
          <TenantList api={api} navigate={navigate} onUnauthorized={onUnauthorized} />
        )}
      </main>
    </div>
  );
}
