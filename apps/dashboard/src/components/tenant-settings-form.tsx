import { type FormEvent, useState } from "react";
import { type AdminApi, ApiError, errorMessage, UnauthorizedError } from "../api-client";
import { changedSettings, SETTING_FIELDS, type SettingsForm, settingsFormOf } from "../tenant-settings";
import type { Tenant } from "../types";
import { focusField, TextField } from "./text-field";

interface TenantSettingsFormProps {
  api: AdminApi;
  tenant: Tenant;
  onSaved(tenant: Tenant): void;
  onUnauthorized(error: UnauthorizedError): void;
}

type FieldName = keyof SettingsForm;

/** The tenant's name and settings; a save sends only the edited fields and shows the API's errors at each. */
export function TenantSettingsForm({ api, tenant, onSaved, onUnauthorized }: TenantSettingsFormProps) {
  const [form, setForm] = useState(() => settingsFormOf(tenant));
  const [errors, setErrors] = useState<Partial<Record<FieldName, string>>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const patch = changedSettings(tenant, form);
  const dirty = Object.keys(patch).length > 0;

  const edit = (name: FieldName, value: string) => {
    setForm((f) => ({ ...f, [name]: value }));
    setStatus(null);
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!dirty) return;
    setBusy(true);
    setFormError(null);
    setStatus(null);
    try {
      const saved = await api.updateTenant(tenant.id, patch);
      setErrors({});
      setForm(settingsFormOf(saved));
      setStatus("Saved.");
      onSaved(saved);
    } catch (e) {
      if (e instanceof UnauthorizedError) return onUnauthorized(e);
      const known = new Set<string>(Object.keys(form));
      const byField: Partial<Record<FieldName, string>> = {};
      const other: string[] = [];
      for (const { path, message } of e instanceof ApiError ? e.fieldErrors : []) {
        if (known.has(path)) byField[path as FieldName] = message;
        else other.push(`${path} ${message}`);
      }
      setErrors(byField);
      setFormError(
        Object.keys(byField).length > 0 && other.length === 0 ? null : [errorMessage(e), ...other].join(" "),
      );
      const first = Object.keys(byField)[0];
      if (first !== undefined) focusField(`setting-${first}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="settings-form" onSubmit={(e) => void submit(e)} noValidate>
      <TextField
        id="setting-name"
        label="Name"
        help="Shown in the dashboard and the CLI."
        value={form.name}
        error={errors.name}
        onChange={(v) => edit("name", v)}
      />
      {SETTING_FIELDS.map((f) => (
        <TextField
          key={f.name}
          id={`setting-${f.name}`}
          label={f.label}
          help={f.help}
          value={form[f.name]}
          error={errors[f.name]}
          inputMode={f.inputMode}
          placeholder={f.nullable ? "none" : undefined}
          onChange={(v) => edit(f.name, v)}
        />
      ))}
      {formError !== null && (
        <p className="form-error" role="alert" data-testid="settings-error">
          {formError}
        </p>
      )}
      <div className="actions">
        <button type="submit" disabled={busy || !dirty} data-testid="settings-save">
          {busy ? "Saving…" : "Save settings"}
        </button>
        <button
          type="button"
          className="ghost"
          disabled={busy || !dirty}
          onClick={() => {
            setForm(settingsFormOf(tenant));
            setErrors({});
            setFormError(null);
          }}
        >
          Discard changes
        </button>
        <span className="muted small" role="status" data-testid="settings-status">
          {status}
        </span>
      </div>
    </form>
  );
}
