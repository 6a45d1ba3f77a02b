import { useCallback, useEffect, useRef, useState } from "react";
import { type AdminApi, ApiError, errorMessage, isAbort, UnauthorizedError } from "../api-client";
import { formatDateTime } from "../format";
import type { Route } from "../router";
import type { Tenant } from "../types";
import { ApiKeysPanel } from "./api-keys-panel";
import { Panel } from "./panel";
import { RouteLink } from "./route-link";
import { TenantSettingsForm } from "./tenant-settings-form";
import { UsagePanel } from "./usage-panel";
import { WebhookSecretPanel } from "./webhook-secret-panel";

interface TenantDetailProps {
  api: AdminApi;
  tenantId: string;
  navigate(route: Route): void;
  onUnauthorized(error: UnauthorizedError): void;
}

/** One tenant: its settings, usage, webhook secret and API keys (at /dashboard/tenants/{id}). */
export function TenantDetail({ api, tenantId, navigate, onUnauthorized }: TenantDetailProps) {
  const [tenant, setTenant] = useState<Tenant | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [usageVersion, setUsageVersion] = useState(0);
  const heading = useRef<HTMLHeadingElement>(null);
  const loaded = tenant !== null;

  const load = useCallback(
    async (signal?: AbortSignal) => {
      try {
        setTenant(await api.tenant(tenantId, signal));
        setError(null);
      } catch (e) {
        if (e instanceof UnauthorizedError) onUnauthorized(e);
        else if (e instanceof ApiError && e.status === 404) setError(`There is no tenant ${tenantId}.`);
        else if (!isAbort(e)) setError(errorMessage(e));
      }
    },
    [api, tenantId, onUnauthorized],
  );

  useEffect(() => {
    const controller = new AbortController();
    void load(controller.signal);
    return () => controller.abort();
  }, [load]);

  // The view changed under a keyboard or screen-reader user: they land on its heading.
  useEffect(() => {
    if (loaded) heading.current?.focus();
  }, [loaded]);

  return (
    <div className="tenant-page" data-testid="tenant-detail" data-tenant-id={tenantId}>
      <RouteLink to={{ view: "tenants" }} navigate={navigate} className="back" testId="back-to-tenants">
        ← All tenants
      </RouteLink>
      {error !== null && (
        <p className="banner" role="alert">
          {error}
        </p>
      )}
      {tenant === null ? (
        error === null && <p className="muted">Loading tenant…</p>
      ) : (
        <>
          <header className="tenant-head">
            <h2 ref={heading} tabIndex={-1} data-testid="tenant-name">
              {tenant.name}
            </h2>
            <dl className="facts tenant-facts">
              <dt>ID</dt>
              <dd>
                <code data-testid="tenant-id">{tenant.id}</code>
              </dd>
              <dt>Created</dt>
              <dd>
                <time dateTime={tenant.created_at}>{formatDateTime(tenant.created_at)}</time>
              </dd>
            </dl>
          </header>
          <div className="tenant-grid">
            <Panel id="settings-heading" title="Settings">
              <TenantSettingsForm
                api={api}
                tenant={tenant}
                onSaved={(saved) => {
                  setTenant(saved);
                  setUsageVersion((v) => v + 1);
                }}
                onUnauthorized={onUnauthorized}
              />
            </Panel>
            <div className="tenant-side">
              <UsagePanel api={api} tenantId={tenant.id} version={usageVersion} onUnauthorized={onUnauthorized} />
              <WebhookSecretPanel
                api={api}
                tenant={tenant}
                onRotated={() => void load()}
                onUnauthorized={onUnauthorized}
              />
            </div>
            <div className="tenant-wide">
              <ApiKeysPanel api={api} tenantId={tenant.id} onUnauthorized={onUnauthorized} />
            </div>
          </div>
        </>
      )}
    </div>
  );
}
