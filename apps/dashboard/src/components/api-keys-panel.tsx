import { type FormEvent, useCallback, useEffect, useState } from "react";
import { type AdminApi, errorMessage, fieldRefusal, isAbort, UnauthorizedError } from "../api-client";
import { formatDateTime } from "../format";
import type { ApiKey, CreatedApiKey } from "../types";
import { ConfirmDialog } from "./confirm-dialog";
import { Panel } from "./panel";
import { OneTimeSecrets } from "./secret-reveal";
import { focusField, TextField } from "./text-field";

interface ApiKeysPanelProps {
  api: AdminApi;
  tenantId: string;
  onUnauthorized(error: UnauthorizedError): void;
}

function When({ iso, never = "never" }: { iso: string | null; never?: string }) {
  return iso === null ? <span className="muted">{never}</span> : <time dateTime={iso}>{formatDateTime(iso)}</time>;
}

/** The tenant's keys (never the keys themselves), adding one (shown once) and revoking one. */
export function ApiKeysPanel({ api, tenantId, onUnauthorized }: ApiKeysPanelProps) {
  const [keys, setKeys] = useState<ApiKey[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [name, setName] = useState("");
  const [nameError, setNameError] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const [created, setCreated] = useState<(CreatedApiKey & { name: string }) | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const [revokeBusy, setRevokeBusy] = useState(false);
  const [revokeError, setRevokeError] = useState<string | null>(null);

  const fail = useCallback(
    (e: unknown, show: (message: string) => void) => {
      if (e instanceof UnauthorizedError) onUnauthorized(e);
      else if (!isAbort(e)) show(errorMessage(e));
    },
    [onUnauthorized],
  );

  const load = useCallback(
    async (signal?: AbortSignal) => {
      try {
        setKeys(await api.apiKeys(tenantId, signal));
        setLoadError(null);
      } catch (e) {
        fail(e, setLoadError);
      }
    },
    [api, tenantId, fail],
  );

  useEffect(() => {
    const controller = new AbortController();
    void load(controller.signal);
    return () => controller.abort();
  }, [load]);

  const add = async (event: FormEvent) => {
    event.preventDefault();
    setAdding(true);
    setNameError(null);
    try {
      const key = await api.addApiKey(tenantId, name);
      setCreated({ ...key, name: name.trim() });
      setName("");
      await load();
    } catch (e) {
      fail(e, () => {
        setNameError(fieldRefusal(e, "name", "Name"));
        focusField("new-key-name");
      });
    } finally {
      setAdding(false);
    }
  };

  const revoke = async (key: ApiKey) => {
    setRevokeBusy(true);
    setRevokeError(null);
    try {
      const revoked = await api.revokeApiKey(key.id);
      setKeys((current) => current?.map((k) => (k.id === revoked.id ? revoked : k)) ?? null);
      setRevoking(null);
    } catch (e) {
      // A 503 leaves the key revoked in Postgres but not yet refused everywhere: the dialog stays to retry.
      fail(e, setRevokeError);
      void load();
    } finally {
      setRevokeBusy(false);
    }
  };

  return (
    <Panel id="keys-heading" title="API keys" testId="keys-panel">
      {loadError !== null && (
        <p className="form-error" role="alert">
          {loadError}
        </p>
      )}
      {keys === null ? (
        loadError === null && <p className="muted">Loading keys…</p>
      ) : keys.length === 0 ? (
        <p className="muted">No keys.</p>
      ) : (
        <div className="table-scroll">
          <table className="stack-table keys-table" data-testid="keys-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Prefix</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.map((key) => (
                <tr
                  key={key.id}
                  data-testid={`key-row-${key.id}`}
                  data-revoked={key.revoked_at !== null}
                  className={key.revoked_at === null ? undefined : "revoked"}
                >
                  <td data-label="Name">{key.name}</td>
                  <td data-label="Prefix">
                    <code title={key.id}>{key.prefix}…</code>
                  </td>
                  <td data-label="Created">
                    <When iso={key.created_at} />
                  </td>
                  <td data-label="Last used">
                    <When iso={key.last_used_at} />
                  </td>
                  <td data-label="Status">
                    {key.revoked_at === null ? (
                      <span className="badge badge-succeeded">active</span>
                    ) : (
                      <span>
                        <span className="badge badge-failed">revoked</span> <When iso={key.revoked_at} />
                      </span>
                    )}
                  </td>
                  <td className="row-actions">
                    {key.revoked_at === null && (
                      <button
                        type="button"
                        className="ghost danger-text"
                        onClick={() => {
                          setRevokeError(null);
                          setRevoking(key);
                        }}
                        aria-label={`Revoke key ${key.name} (${key.prefix}…)`}
                        data-testid={`revoke-${key.id}`}
                      >
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      {created !== null && (
        <OneTimeSecrets
          title={`New API key “${created.name}”`}
          testId="new-key"
          secrets={[{ label: "API key", value: created.api_key, testId: "new-key-value" }]}
          onDone={() => setCreated(null)}
        >
          <p className="muted small">Darkroom keeps only a hash of it: it cannot be shown again.</p>
        </OneTimeSecrets>
      )}

      <form className="inline-form" onSubmit={(e) => void add(e)} noValidate>
        <TextField
          id="new-key-name"
          label="New key name"
          value={name}
          error={nameError}
          placeholder="e.g. ci"
          onChange={setName}
        />
        <button type="submit" disabled={adding} data-testid="add-key">
          {adding ? "Adding…" : "Add key"}
        </button>
      </form>

      {revoking !== null && (
        <ConfirmDialog
          title="Revoke this API key?"
          confirmLabel="Revoke key"
          busy={revokeBusy}
          error={revokeError}
          testId="revoke-dialog"
          onConfirm={() => void revoke(revoking)}
          onCancel={() => setRevoking(null)}
        >
          <p>
            <strong>{revoking.name}</strong> <code>{revoking.prefix}…</code>
          </p>
          <p>
            Every request with it is refused (401) on every API process within moments. This cannot be undone: a client
            using it needs a new key.
          </p>
        </ConfirmDialog>
      )}
    </Panel>
  );
}
