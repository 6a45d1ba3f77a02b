import type { AdminUpstreamQuota } from "@darkroom/domain";
import { formatTime } from "../format";

/**
 * The upstream quota guard, shown only when it matters: generation paused for a used-up quota, or
 * the quota running low (UPSTREAM_QUOTA_WARN).
 */
export function QuotaBanner({ quota }: { quota: AdminUpstreamQuota | null }) {
  if (quota === null) return null;
  if (quota.paused) {
    return (
      <p className="banner" role="alert" data-testid="quota-banner">
        Upstream quota used up: generation is paused since {formatTime(quota.paused_at ?? "")} ({quota.reason}). Jobs
        wait and none fails; generation resumes by itself when the quota returns.
      </p>
    );
  }
  if (quota.status === "low") {
    return (
      <p className="banner warning" role="status" data-testid="quota-banner">
        Upstream quota running low: {quota.available?.toLocaleString("en-US")} left.
      </p>
    );
  }
  return null;
}
