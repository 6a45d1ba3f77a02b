import type { Tenant, TenantPatch, TenantSettingName } from "./types";

export interface SettingField {
  name: TenantSettingName;
  label: string;
  help: string;
  /** Null lifts the cap; an empty input means null. */
  nullable: boolean;
  inputMode: "numeric" | "decimal";
}

/** The settings form's fields, in the order the API documents them. */
export const SETTING_FIELDS: readonly SettingField[] = [
  {
    name: "max_concurrency",
    label: "Max concurrency",
    help: "Jobs running at once across all workers. Empty: no cap.",
    nullable: true,
    inputMode: "numeric",
  },
  {
    name: "weight",
    label: "Weight",
    help: "Share of capacity when the workers are saturated (1–1000).",
    nullable: false,
    inputMode: "numeric",
  },
  {
    name: "rate_limit_per_minute",
    label: "Rate limit per minute",
    help: "Requests per API key per minute.",
    nullable: false,
    inputMode: "numeric",
  },
  {
    name: "images_per_day",
    label: "Images per day",
    help: "Daily image quota. Empty: none.",
    nullable: true,
    inputMode: "numeric",
  },
  {
    name: "monthly_budget_usd",
    label: "Monthly budget (USD)",
    help: "Estimated spend per calendar month. Empty: none.",
    nullable: true,
    inputMode: "decimal",
  },
];

export type SettingsForm = Record<"name" | TenantSettingName, string>;

export function settingsFormOf(tenant: Tenant): SettingsForm {
  const text = (value: number | null) => (value === null ? "" : String(value));
  return {
    name: tenant.name,
    max_concurrency: text(tenant.max_concurrency),
    weight: text(tenant.weight),
    rate_limit_per_minute: text(tenant.rate_limit_per_minute),
    images_per_day: text(tenant.images_per_day),
    monthly_budget_usd: text(tenant.monthly_budget_usd),
  };
}

const DECIMAL = /^-?\d+(?:\.\d+)?$/;

/**
 * What an input sends: a plain decimal as a number, empty as null, anything else as the text
 * typed. The API is the one judge of a value (its errors name the field), so the form never
 * guesses: `Number("")` is 0 and `Number("0x10")` is 16, neither what was meant.
 */
export function settingValue(text: string): number | string | null {
  const trimmed = text.trim();
  if (trimmed === "") return null;
  return DECIMAL.test(trimmed) ? Number(trimmed) : trimmed;
}

/** The fields whose input differs from the tenant: a save changes only what was edited. */
export function changedSettings(tenant: Tenant, form: SettingsForm): TenantPatch {
  const saved = settingsFormOf(tenant);
  const patch: TenantPatch = {};
  if (form.name !== saved.name) patch.name = form.name;
  for (const { name } of SETTING_FIELDS) {
    if (settingValue(form[name]) !== settingValue(saved[name])) patch[name] = settingValue(form[name]);
  }
  return patch;
}
