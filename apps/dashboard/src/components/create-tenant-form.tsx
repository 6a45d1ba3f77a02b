import { type FormEvent, useState } from "react";
import { type AdminApi, fieldRefusal, UnauthorizedError } from "../api-client";
import type { CreatedTenant } from "../types";
import { focusField, TextField } from "./text-field";

interface CreateTenantFormProps {
  api: AdminApi;
  onCreated(created: CreatedTenant, name: string): void;
  onUnauthorized(error: UnauthorizedError): void;
}

/** `POST /admin/api/keys`: a tenant with the server's default settings, its first key and its webhook secret. */
export function CreateTenantForm({ api, onCreated, onUnauthorized }: CreateTenantFormProps) {
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const created = await api.createTenant(name);
      setName("");
      onCreated(created, name.trim());
    } catch (e) {
      if (e instanceof UnauthorizedError) return onUnauthorized(e);
      setError(fieldRefusal(e, "name", "Name"));
      focusField("new-tenant-name");
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="inline-form" onSubmit={(e) => void submit(e)} noValidate aria-label="New tenant">
      <TextField
        id="new-tenant-name"
        label="New tenant name"
        value={name}
        error={error}
        help={
          <>
            Starts with the server's default settings (<code>TENANT_DEFAULT_*</code>), one API key and a webhook secret.
          </>
        }
        onChange={setName}
      />
      <button type="submit" disabled={busy} data-testid="create-tenant">
        {busy ? "Creating…" : "Create tenant"}
      </button>
    </form>
  );
}
