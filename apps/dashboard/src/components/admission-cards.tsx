import type { Route } from "../router";
import type { Admission } from "../types";
import { Card, Pairs } from "./card";
import { RouteLink } from "./route-link";

interface AdmissionCardsProps {
  /** `overview.admission`; null when the API could not read it from Redis. */
  admission: Admission | null;
  /** Tenant names by id, as far as they are known (an unknown one shows its id). */
  tenantNames: Readonly<Record<string, string>>;
  navigate(route: Route): void;
}

/** Fair admission: the workers' capacity, where work waits, and each tenant's running share. */
export function AdmissionCards({ admission, tenantNames, navigate }: AdmissionCardsProps) {
  if (admission === null) {
    return (
      <div className="cards cards-admission">
        <Card label="Fair admission" testId="card-admission">
          <p className="unavailable" data-testid="admission-unavailable">
            Unavailable: the API cannot reach Redis, where the tenants' intakes are kept.
          </p>
        </Card>
      </div>
    );
  }
  const running = Object.entries(admission.running_by_tenant)
    .filter(([, count]) => count > 0)
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1));
  return (
    <div className="cards cards-admission">
      <Card label="Fair admission" testId="card-admission">
        <Pairs
          items={[
            ["worker capacity", admission.capacity, "admission-capacity"],
            ["admitted", admission.admitted, "admission-admitted"],
            ["queued in intakes", admission.queued, "admission-queued"],
            ["waiting for retry", admission.retry_wait, "admission-retry-wait"],
          ]}
        />
      </Card>
      <Card label="Running per tenant" testId="card-running-by-tenant">
        {running.length === 0 ? (
          <p className="muted">None</p>
        ) : (
          <ul className="tenant-counts">
            {running.map(([tenantId, count]) => (
              <li key={tenantId} data-testid={`running-${tenantId}`} data-value={count}>
                <RouteLink to={{ view: "tenant", tenantId }} navigate={navigate}>
                  {tenantNames[tenantId] ?? <code>{tenantId}</code>}
                </RouteLink>
                <span className="count">{count}</span>
              </li>
            ))}
          </ul>
        )}
      </Card>
    </div>
  );
}
