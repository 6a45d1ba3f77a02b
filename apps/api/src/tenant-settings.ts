// Tenant settings as the admin API and the CLI take them: one schema, one mapping to the stored form.
import { z } from "zod";

const wholeNumber = (min: number, max: number) =>
  z
    .number({ error: "must be a whole number" })
    .int({ error: "must be a whole number" })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` });

/** Every tenant setting, as sent to the admin API (snake_case; null lifts a cap, quota or budget). */
export const TenantSettingsSchema = z.object({
  max_concurrency: wholeNumber(1, 100_000)
    .nullable()
    .optional()
    .meta({ description: "Most of the tenant's jobs running at once; null: no cap" }),
  weight: wholeNumber(1, 1000)
    .optional()
    .meta({ description: "The tenant's share of the workers against other busy tenants (1-1000)" }),
  rate_limit_per_minute: wholeNumber(1, 1_000_000)
    .optional()
    .meta({ description: "Requests each of the tenant's API keys may make per minute" }),
  images_per_day: wholeNumber(0, 100_000_000).nullable().optional().meta({
    description: "Images the tenant may store per UTC day (queued and running jobs reserve theirs); null: no quota",
  }),
  monthly_budget_usd: z
    .number({ error: "must be a number of US dollars" })
    .min(0, { error: "must be at least 0" })
    .max(1_000_000_000, { error: "must be at most 1000000000" })
    .refine((v) => Math.abs(Math.round(v * 10_000) - v * 10_000) < 1e-6, {
      message: "must have at most 4 decimal places",
    })
    .nullable()
    .optional()
    .meta({ description: "Estimated USD the tenant may spend per UTC month (MODEL_PRICES); null: no budget" }),
});

type SettingsBody = z.infer<typeof TenantSettingsSchema>;

/** The settings a body names, in their stored form; absent fields stay absent. */
export function storedSettings(body: SettingsBody) {
  const out: {
    maxConcurrency?: number | null;
    weight?: number;
    rateLimitPerMinute?: number;
    imagesPerDay?: number | null;
    monthlyBudgetUsd?: number | null;
  } = {};
  if (body.max_concurrency !== undefined) out.maxConcurrency = body.max_concurrency;
  if (body.weight !== undefined) out.weight = body.weight;
  if (body.rate_limit_per_minute !== undefined) out.rateLimitPerMinute = body.rate_limit_per_minute;
  if (body.images_per_day !== undefined) out.imagesPerDay = body.images_per_day;
  if (body.monthly_budget_usd !== undefined) out.monthlyBudgetUsd = body.monthly_budget_usd;
  return out;
}
