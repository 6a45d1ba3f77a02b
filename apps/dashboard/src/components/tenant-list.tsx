import { useEffect, useRef, useState } from "react";
import { type AdminApi, errorMessage, UnauthorizedError } from "../api-client";
import { formatLimit, formatUsd } from "../format";
import type { Route } from "../router";
import type { ApiKey, CreatedTenant, Tenant } from "../types";
import { CreateTenantForm } from "./create-tenant-form";
import { Panel } from "./panel";
import { RouteLink } from "./route-link";
import { OneTimeSecrets } from "./secret-reveal";

interface TenantListProps {
  api: AdminApi;
  navigate(route: Route): void;
  onUnauthorized(error: UnauthorizedError): void;
}

interface KeyCount {
  active: number;
  revoked: number;
}

function countKeys(keys: ApiKey[]): KeyCount {
  const revoked = keys.filter((k) => k.revoked_at !== null).length;
  return { active: keys.length - revoked, revoked };
}

/** Every tenant with its settings and key count, and creating one (at /dashboard/tenants). */
export function TenantList({ api, navigate, onUnauthorized }: TenantListProps) {
  const [tenants, setTenants] = useState<Tenant[] | null>(null);
  const [keyCounts, setKeyCounts] = useState<Record<string, KeyCount>>({});
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<(CreatedTenant & { name: string }) | null>(null);
  const [version, setVersion] = useState(0);
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    heading.current?.focus();
  }, []);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `version` is the reload trigger after a tenant is created.
  useEffect(() => {
    const controller = new AbortController();
    const fail = (e: unknown) => {
      if (controller.signal.aborted) return;
      if (e instanceof UnauthorizedError) onUnauthorized(e);
      else setError(errorMessage(e));
    };
    const load = async () => {
      const list = await api.tenants(controller.signal);
      setTenants(list);
      setError(null);
      // The list has no key counts: each tenant's keys are read beside it (the browser runs a few at a time).
      await Promise.all(
        list.map(async (t) => {
          const count = countKeys(await api.apiKeys(t.id, controller.signal));
          setKeyCounts((counts) => ({ ...counts, [t.id]: count }));
        }),
      );
    };
    load().catch(fail);
    return () => controller.abort();
  }, [api, onUnauthorized, version]);

  return (
    <div className="tenants-page">
      <section className="panel" aria-labelledby="tenants-heading">
        <div className="panel-head">
          <h2 id="tenants-heading" ref={heading} tabIndex={-1}>
            Tenants
          </h2>
          <span className="muted small">{tenants === null ? "" : `${tenants.length} in all`}</span>
        </div>
        {error !== null && (
          <p className="form-error panel-body" role="alert">
            {error}
          </p>
        )}
        {tenants === null ? (
          error === null && <p className="empty muted">Loading tenants…</p>
        ) : tenants.length === 0 ? (
          <p className="empty muted">No tenants yet: create one below.</p>
        ) : (
          <div className="table-scroll">
            <table className="stack-table tenants-table" data-testid="tenants-table">
              <thead>
                <tr>
                  <th scope="col">Tenant</th>
                  <th scope="col" className="num">
                    Max concurrency
                  </th>
                  <th scope="col" className="num">
                    Weight
                  </th>
                  <th scope="col" className="num">
                    Rate / min
                  </th>
                  <th scope="col" className="num">
                    Images / day
                  </th>
                  <th scope="col" className="num">
                    Budget / month
                  </th>
                  <th scope="col" className="num">
                    Keys
                  </th>
                </tr>
              </thead>
              <tbody>
                {tenants.map((t) => {
                  const keys = keyCounts[t.id];
                  return (
                    <tr key={t.id} data-testid={`tenant-row-${t.id}`}>
                      <th scope="row" className="tenant-cell">
                        <RouteLink
                          to={{ view: "tenant", tenantId: t.id }}
                          navigate={navigate}
                          testId={`tenant-link-${t.id}`}
                        >
                          {t.name}
                        </RouteLink>
                        <code className="muted tenant-id">{t.id}</code>
                      </th>
                      <td className="num" data-label="Max concurrency">
                        {formatLimit(t.max_concurrency)}
                      </td>
                      <td className="num" data-label="Weight">
                        {t.weight}
                      </td>
                      <td className="num" data-label="Rate / min">
                        {t.rate_limit_per_minute.toLocaleString()}
                      </td>
                      <td className="num" data-label="Images / day">
                        {formatLimit(t.images_per_day)}
                      </td>
                      <td className="num" data-label="Budget / month">
                        {formatUsd(t.monthly_budget_usd)}
                      </td>
                      <td
                        className="num"
                        data-label="Keys"
                        data-testid={`tenant-keys-${t.id}`}
                        data-active={keys?.active}
                      >
                        {keys === undefined ? (
                          "…"
                        ) : (
                          <span>
                            {keys.active} active
                            {keys.revoked > 0 && <span className="muted"> · {keys.revoked} revoked</span>}
                          </span>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <Panel id="new-tenant-heading" title="New tenant">
        {created !== null && (
          <OneTimeSecrets
            title={`Tenant “${created.name}” created`}
            testId="created-tenant"
            secrets={[
              { label: "API key", value: created.api_key, testId: "created-api-key" },
              { label: "Webhook secret", value: created.webhook_secret, testId: "created-webhook-secret" },
            ]}
            onDone={() => setCreated(null)}
          >
            <p>
              <RouteLink
                to={{ view: "tenant", tenantId: created.tenant_id }}
                navigate={navigate}
                testId="open-created-tenant"
              >
                Open {created.name}'s settings
              </RouteLink>{" "}
              (the secrets are not shown there).
            </p>
          </OneTimeSecrets>
        )}
        <CreateTenantForm
          api={api}
          onCreated={(c, name) => {
            setCreated({ ...c, name });
            setVersion((v) => v + 1);
          }}
          onUnauthorized={onUnauthorized}
        />
      </Panel>
    </div>
  );
}
