// The error answers of the API, each once: a route's registry entry lists the ones it can give.
import type { ErrorCode } from "@darkroom/domain";

interface ProblemAnswer {
  status: number;
  code: ErrorCode;
  /** When and why; shown in the reference under the status. */
  when: string;
}

const RATE_LIMIT_HEADERS =
  'every `/v1` answer to an authenticated request carries `RateLimit-Policy: "minute";q=<limit>;w=60` and `RateLimit: "minute";r=<remaining>;t=<seconds to reset>`';

/** Every error answer, by the name routes list them with. */
export const PROBLEMS = {
  badPath: {
    status: 400,
    code: "bad_request",
    when: "`bad_request`: the path is not valid percent-encoding (such as `%zz`)",
  },
  malformedJson: {
    status: 400,
    code: "malformed_json",
    when: "`malformed_json`: a body sent as `application/json` is not JSON",
  },
  invalidBody: {
    status: 400,
    code: "validation_failed",
    when: "`validation_failed`: the body is not a JSON object, a field is invalid or unknown; `errors` names every bad field at once",
  },
  invalidQuery: {
    status: 400,
    code: "validation_failed",
    when: "`validation_failed`: a query parameter is invalid or unknown; `errors` names each",
  },
  invalidJob: {
    status: 400,
    code: "validation_failed",
    when: "`validation_failed`: `errors` names each bad field. Text must be storable as sent: a NUL or a lone UTF-16 surrogate in `prompt`, `webhook_url` or any `metadata` key or value is refused with its path (`metadata.k`). `metadata` nests at most 16 levels, its numbers must be finite and `__proto__` is refused as a key at any depth. `webhook_url` is refused when it points to a loopback, private, link-local or metadata address (unless ALLOW_PRIVATE_WEBHOOK_URLS is `loopback`, for this machine, as under `npm start` in development, or `true`; the message names the variable); `Idempotency-Key` must be 1 to 255 visible ASCII characters",
  },
  invalidWebhookTest: {
    status: 400,
    code: "validation_failed",
    when: "`validation_failed`: `url` is missing, not a string, not an absolute http(s) URL, carries credentials, or points at an address webhooks may not reach (the message names ALLOW_PRIVATE_WEBHOOK_URLS), or the body has an unknown field; `errors` names the field",
  },
  invalidSeq: {
    status: 400,
    code: "validation_failed",
    when: "`validation_failed`: `after` or `Last-Event-ID` is not an event seq, or `live` is not true or false",
  },
  invalidUsage: {
    status: 400,
    code: "validation_failed",
    when: "`validation_failed`: `from` or `to` is not an ISO 8601 date-time or date, `from` is after `to`, the range is over 366 days, `group_by` is not day or model, or an unknown parameter; `errors` names each",
  },
  apiKey: {
    status: 401,
    code: "unauthorized",
    when: "`unauthorized`: no `Authorization: Bearer <API key>`, or the key is unknown or revoked",
  },
  adminToken: {
    status: 401,
    code: "unauthorized",
    when: "`unauthorized`: no `Authorization: Bearer <ADMIN_TOKEN>`, or a wrong one",
  },
  signedUrl: {
    status: 403,
    code: "forbidden",
    when: "`forbidden`: a signed URL not in its canonical form, with a wrong signature, expired, or expiring further ahead than any URL Darkroom signs; `detail` says which",
  },
  noJob: { status: 404, code: "not_found", when: "`not_found`: no such job for this tenant (other tenants' jobs too)" },
  noImage: {
    status: 404,
    code: "not_found",
    when: "`not_found`: no such job for this tenant, no image at that index (yet), or its stored bytes are gone",
  },
  noDelivery: { status: 404, code: "not_found", when: "`not_found`: no such webhook delivery for this tenant" },
  noTenant: { status: 404, code: "not_found", when: "`not_found`: no such tenant" },
  noKey: { status: 404, code: "not_found", when: "`not_found`: no such API key" },
  noAnyJob: { status: 404, code: "not_found", when: "`not_found`: no such job" },
  noBulk: { status: 404, code: "not_found", when: "`not_found`: no such bulk operation" },
  bulkCountChanged: {
    status: 409,
    code: "conflict",
    when: "`conflict`: the filter matches another number of jobs than `expected_count`; `detail` names both",
  },
  noAnyDelivery: { status: 404, code: "not_found", when: "`not_found`: no such webhook delivery" },
  notCancelable: {
    status: 409,
    code: "conflict",
    when: "`conflict`: the job is already succeeded, failed or canceled; `detail` names its status",
  },
  notRetryable: {
    status: 409,
    code: "conflict",
    when: "`conflict`: only a failed or canceled job can be retried; `detail` names its status",
  },
  tooLarge: { status: 413, code: "payload_too_large", when: "`payload_too_large`: the body is over 1 MiB" },
  notJson: {
    status: 415,
    code: "unsupported_media_type",
    when: "`unsupported_media_type`: the body is not sent as `Content-Type: application/json`, or its charset or encoding is not supported",
  },
  idempotencyMismatch: {
    status: 422,
    code: "idempotency_mismatch",
    when: "`idempotency_mismatch`: the Idempotency-Key was used before with a different body; `detail` names the job it created",
  },
  keyRate: {
    status: 429,
    code: "rate_limited",
    when: `\`rate_limited\`: the API key made more than its tenant's \`rate_limit_per_minute\` requests this minute (\`limit.name\` is \`rate_limit_per_minute\`; counted over every API process in fixed one-minute windows; ${RATE_LIMIT_HEADERS}), or too many failed authentications from this client address (AUTH_FAILURES_PER_MINUTE, \`auth_failures_per_minute\`), when every request from it is refused, a correct key included; retry after \`Retry-After\``,
  },
  adminRate: {
    status: 429,
    code: "rate_limited",
    when: "`rate_limited`: too many wrong admin tokens or API keys from this client address (AUTH_FAILURES_PER_MINUTE, `auth_failures_per_minute`); retry after `Retry-After`",
  },
  streamSlots: {
    status: 429,
    code: "rate_limited",
    when: "`rate_limited`: the key already holds MAX_STREAMS_PER_KEY live event streams and `Prefer: wait` requests (`limit.name` is `max_streams_per_key`)",
  },
  redeliveries: {
    status: 429,
    code: "rate_limited",
    when: '`rate_limited`: the tenant asked for more than WEBHOOK_REDELIVERIES_PER_MINUTE redeliveries this minute (`limit.name` is `webhook_redeliveries_per_minute`; see the `"redeliveries"` item of `RateLimit`)',
  },
  quota: {
    status: 429,
    code: "quota_exceeded",
    when: "`quota_exceeded`: the job's `n` images would take the tenant past its `images_per_day` (images stored since 00:00 UTC plus the `n` of its queued and running jobs); `limit` has `name`, `value`, `used`, `reserved`, `requested` and `resets_at` (next 00:00 UTC), `Retry-After` the seconds until then; nothing is created or changed",
  },
  budget: {
    status: 429,
    code: "budget_exceeded",
    when: "`budget_exceeded`: the job's worst-case estimated cost (`n` times the higher MODEL_PRICES price of `model` and `fallback_model`) would take the tenant past its `monthly_budget_usd`; `limit` as for `quota_exceeded`, `resets_at` the first instant of next UTC month; nothing is created or changed",
  },
  unavailable: {
    status: 503,
    code: "service_unavailable",
    when: "`service_unavailable`: Postgres (or Redis, where the route needs it) is unreachable; retry after `Retry-After`",
  },
  revokeNotice: {
    status: 503,
    code: "service_unavailable",
    when: "`service_unavailable`: revoked in Postgres, but Redis could not tell the API processes; revoke again to retry",
  },
  settingsNotice: {
    status: 503,
    code: "service_unavailable",
    when: "`service_unavailable`: saved in Postgres, but Redis could not tell the workers and API processes; send the PATCH again",
  },
} satisfies Record<string, ProblemAnswer>;

export type ProblemName = keyof typeof PROBLEMS;

/** What every `/v1` route with an API key can answer. */
export const API_KEY_PROBLEMS: ProblemName[] = ["apiKey", "keyRate", "unavailable"];
/** What every `/admin/api` route can answer. */
export const ADMIN_PROBLEMS: ProblemName[] = ["adminToken", "adminRate", "unavailable"];
/** What a route that reads a JSON body can answer about the body itself. */
export const BODY_PROBLEMS: ProblemName[] = ["malformedJson", "tooLarge"];

/**
 * The responses object of the named problems: one entry per status, its causes listed, its `code`
 * narrowed to theirs (the Problem component is added to the document by index.ts).
 */
export function problemResponses(names: ProblemName[]) {
  const byStatus = new Map<number, ProblemAnswer[]>();
  for (const name of new Set(names)) {
    const answer: ProblemAnswer = PROBLEMS[name];
    byStatus.set(answer.status, [...(byStatus.get(answer.status) ?? []), answer]);
  }
  return Object.fromEntries(
    [...byStatus.entries()]
      .sort(([a], [b]) => a - b)
      .map(([status, answers]) => [
        String(status),
        {
          description: answers.map((a) => a.when).join(". Or "),
          content: {
            "application/problem+json": {
              schema: {
                allOf: [
                  { $ref: "#/components/schemas/Problem" },
                  { type: "object" as const, properties: { code: { enum: [...new Set(answers.map((a) => a.code))] } } },
                ],
              },
            },
          },
        },
      ]),
  );
}
