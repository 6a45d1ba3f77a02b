import { useState } from "react";
import { type AdminApi, errorMessage, UnauthorizedError } from "../api-client";
import { formatDateTime } from "../format";
import type { RotatedSecret, Tenant } from "../types";
import { ConfirmDialog } from "./confirm-dialog";
import { Panel } from "./panel";
import { OneTimeSecrets } from "./secret-reveal";

interface WebhookSecretPanelProps {
  api: AdminApi;
  tenant: Tenant;
  /** After a rotation: the tenant's `previous_webhook_secret_valid_until` changed. */
  onRotated(): void;
  onUnauthorized(error: UnauthorizedError): void;
}

/** Rotating the tenant's webhook signing secret, with the grace during which the old one still signs. */
export function WebhookSecretPanel({ api, tenant, onRotated, onUnauthorized }: WebhookSecretPanelProps) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [rotated, setRotated] = useState<RotatedSecret | null>(null);
  const graceUntil = tenant.previous_webhook_secret_valid_until;

  const rotate = async () => {
    setBusy(true);
    setError(null);
    try {
      setRotated(await api.rotateWebhookSecret(tenant.id));
      setAsking(false);
      onRotated();
    } catch (e) {
      if (e instanceof UnauthorizedError) onUnauthorized(e);
      else setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Panel id="webhook-heading" title="Webhook secret" testId="webhook-panel">
      <p>
        Webhooks to this tenant are signed with its secret (<code>webhook-signature</code>, Standard Webhooks).
      </p>
      {graceUntil !== null && (
        <p className="muted" data-testid="grace-until">
          The previous secret also signs until <time dateTime={graceUntil}>{formatDateTime(graceUntil)}</time>.
        </p>
      )}
      {rotated !== null && (
        <OneTimeSecrets
          title="New webhook secret"
          testId="new-secret"
          secrets={[{ label: "Webhook secret", value: rotated.webhook_secret, testId: "new-secret-value" }]}
          onDone={() => setRotated(null)}
        >
          <p data-testid="previous-valid-until" data-value={rotated.previous_valid_until}>
            Until{" "}
            <strong>
              <time dateTime={rotated.previous_valid_until}>{formatDateTime(rotated.previous_valid_until)}</time>
            </strong>{" "}
            every webhook carries two signatures, one with the previous secret and one with this one: update the
            receivers before then.
          </p>
        </OneTimeSecrets>
      )}
      <button
        type="button"
        className="ghost"
        onClick={() => {
          setError(null);
          setAsking(true);
        }}
        data-testid="rotate-secret"
      >
        Rotate webhook secret…
      </button>
      {asking && (
        <ConfirmDialog
          title="Rotate the webhook secret?"
          confirmLabel="Rotate secret"
          busy={busy}
          error={error}
          testId="rotate-dialog"
          onConfirm={() => void rotate()}
          onCancel={() => setAsking(false)}
        >
          <p>
            A new secret signs every webhook from now on. The current one keeps signing alongside it for the grace
            period (<code>WEBHOOK_SECRET_GRACE_HOURS</code>, 24 h by default), so receivers can switch over.
          </p>
          {graceUntil !== null && (
            <p className="warning">
              A rotation is already in its grace period: rotating again stops the oldest secret at once.
            </p>
          )}
        </ConfirmDialog>
      )}
    </Panel>
  );
}
