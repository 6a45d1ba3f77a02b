import type { AdminJobFilter } from "@darkroom/db";
import { JOB_STATUSES, MODELS } from "@darkroom/domain";
import { z } from "zod";

const isoDate = z.iso.datetime({ offset: true, error: "must be an ISO 8601 date-time with a time zone" });
const PAIR = /^([^=]{1,100})=(.{0,500})$/s;

/** One or more statuses: a comma-separated list in a query, a string or an array in a body. */
const statuses = z
  .union([z.string(), z.array(z.string())])
  .transform((value, ctx) => {
    const list = (Array.isArray(value) ? value : value.split(",")).map((s) => s.trim()).filter((s) => s !== "");
    const wrong = list.filter((s) => !(JOB_STATUSES as readonly string[]).includes(s));
    if (wrong.length > 0 || list.length === 0) {
      ctx.addIssue({
        code: "custom",
        message: `must be job statuses (${JOB_STATUSES.join(", ")}), got "${wrong.join(",")}"`,
      });
      return z.NEVER;
    }
    return [...new Set(list)] as (typeof JOB_STATUSES)[number][];
  })
  .meta({ description: "Only jobs in these statuses (comma-separated in a query)", example: "failed,canceled" });

/** `key=value` pairs: repeated in a query; an array of them or an object in a body. */
const metadataPairs = z
  .union([z.string(), z.array(z.string()), z.record(z.string(), z.string())])
  .transform((value, ctx) => {
    if (typeof value === "object" && !Array.isArray(value)) return Object.entries(value) as [string, string][];
    const pairs: [string, string][] = [];
    for (const text of Array.isArray(value) ? value : [value]) {
      const match = PAIR.exec(text);
      if (match === null) {
        ctx.addIssue({ code: "custom", message: `must be key=value, got "${text.slice(0, 100)}"` });
        return z.NEVER;
      }
      pairs.push([match[1] ?? "", match[2] ?? ""]);
    }
    return pairs;
  })
  .meta({
    description: "Only jobs whose metadata has this `key=value` (repeatable: all must match)",
    example: "user=u_42",
  });

const filterShape = {
  status: statuses.optional(),
  model: z
    .enum(MODELS, { error: `must be one of ${MODELS.join(", ")}` })
    .optional()
    .meta({ description: "Only jobs that asked for this model" }),
  tenant: z
    .string()
    .regex(/^ten_[0-9A-HJKMNP-TV-Z]{26}$/, { error: "must be a tenant id (ten_…)" })
    .optional()
    .meta({ description: "Only this tenant's jobs" }),
  created_after: isoDate.optional().meta({ description: "Only jobs created at or after this instant" }),
  created_before: isoDate.optional().meta({ description: "Only jobs created before this instant" }),
  error_code: z
    .string()
    .regex(/^[a-z_]{1,64}$/, { error: "must be an error code such as upstream_timeout" })
    .optional()
    .meta({ description: "Only jobs that ended with this error code" }),
  fallback_used: z
    .union([z.boolean(), z.enum(["true", "false"], { error: "must be true or false" })])
    .transform((v) => v === true || v === "true")
    .optional()
    .meta({ description: "Only jobs whose fallback model took over (true) or did not (false)" }),
  q: z
    .string()
    .trim()
    .max(200, { error: "must be at most 200 characters" })
    .regex(/[\p{L}\p{N}]/u, { error: "must hold a job id or at least one word" })
    .optional()
    .meta({
      description: "A job id, or words that must all be in the prompt (whole words, any case)",
      example: "lighthouse",
    }),
  metadata: metadataPairs.optional(),
};

/** The filter of `GET /admin/api/jobs` and `GET /admin/api/jobs/count` (a query string, or the same keys in JSON). */
export const AdminJobFilterSchema = z.strictObject(filterShape);

export type AdminJobFilterInput = z.output<typeof AdminJobFilterSchema>;

/** The validated filter in the database layer's terms. */
export function toAdminJobFilter(input: AdminJobFilterInput): AdminJobFilter {
  return {
    status: input.status,
    model: input.model,
    tenant: input.tenant,
    createdAfter: input.created_after === undefined ? undefined : new Date(input.created_after),
    createdBefore: input.created_before === undefined ? undefined : new Date(input.created_before),
    errorCode: input.error_code,
    fallbackUsed: input.fallback_used,
    q: input.q,
    metadata: input.metadata,
  };
}
