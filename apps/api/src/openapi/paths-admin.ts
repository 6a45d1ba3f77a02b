// The operators' API (`/admin/api`, Bearer ADMIN_TOKEN) and the unauthenticated service routes.
import type { OpenAPIRegistry, RouteConfig } from "@asteasolutions/zod-to-openapi";
import { UsageQuerySchema } from "@darkroom/domain";
import { z } from "zod";
import { AdminJobFilterSchema } from "../http/admin-job-filter";
import { BulkRequestSchema } from "../http/bulk-operations";
import { KeyAddSchema, KeyCreateSchema, TenantPatchSchema } from "../routes/admin";
import { AdminJobsQuerySchema } from "../routes/admin-dashboard";
import { AdminTrendsQuerySchema } from "../routes/admin-trends";
import { jobPage } from "./job-schemas";
import { JobIdParams, json } from "./paths-v1";
import { ADMIN_PROBLEMS, BODY_PROBLEMS, type ProblemName, problemResponses } from "./problems";
import {
  AdminJobDetailSchema,
  AdminJobSchema,
  ApiKeySchema,
  OverviewSchema,
  TenantSchema,
  TenantWithLimitsSchema,
  TrendsSchema,
  UsageSchema,
  WebhookDeliverySchema,
} from "./resource-schemas";

const TenantParams = z.object({
  id: z.string().meta({ description: "The tenant's id", example: "ten_01KBX7KQ2W5N8R3T6V9YHZC4MD" }),
});
const secret = z.string().meta({ description: "Shown once", example: "whsec_…" });

type AdminRoute = Omit<RouteConfig, "responses" | "security" | "tags"> & {
  ok: RouteConfig["responses"];
  problems: ProblemName[];
};

function registerAdmin(registry: OpenAPIRegistry, route: AdminRoute): void {
  const { ok, problems, ...rest } = route;
  registry.registerPath({
    ...rest,
    tags: ["Admin"],
    security: [{ adminToken: [] }],
    responses: { ...ok, ...problemResponses([...ADMIN_PROBLEMS, ...problems]) },
  });
}

const count = (description: string) => z.int().meta({ description });
const BulkOperationSchema = z
  .strictObject({
    id: z.string().meta({ description: "bulk_…", example: "bulk_01KBX7RZ0J3V9Q2M6T8W4YHN5C" }),
    object: z.literal("bulk_operation").meta({ description: "Always `bulk_operation`" }),
    action: z.enum(["retry", "cancel"]).meta({ description: "What it does to each job" }),
    filter: z.record(z.string(), z.unknown()).meta({ description: "The filter as given" }),
    status: z.enum(["running", "succeeded", "failed"]).meta({ description: "Where it stands" }),
    total: count("Jobs matching when it started"),
    processed: count("Jobs handled so far"),
    succeeded: count("Jobs retried or canceled"),
    skipped: count("Jobs whose state no longer allowed the action"),
    failed: count("Jobs whose action failed for another reason (see the API's log)"),
    error: z.string().nullable().meta({ description: "What ended a failed operation" }),
    created_at: z.string().meta({ description: "When it started (ISO 8601)" }),
    finished_at: z.string().nullable().meta({ description: "When it ended; null while running" }),
  })
  .meta({ id: "BulkOperation", description: "A bulk retry or cancel and its progress" });

export function registerAdminPaths(registry: OpenAPIRegistry): void {
  registerAdmin(registry, {
    method: "post",
    path: "/admin/api/keys",
    operationId: "createTenant",
    summary: "Create a tenant with an API key and webhook secret",
    description: "Settings are optional (TENANT_DEFAULT_* otherwise). The key and secret are shown once.",
    request: { body: { required: true, content: json(KeyCreateSchema, { name: "acme", images_per_day: 500 }) } },
    ok: {
      201: {
        description: "Created",
        content: json(
          z
            .strictObject({
              tenant_id: z.string().meta({ description: "The new tenant's id" }),
              api_key: z.string().meta({ description: "Shown once", example: "dr_live_…" }),
              webhook_secret: secret,
            })
            .meta({ id: "TenantCreated", description: "The new tenant's credentials" }),
        ),
      },
    },
    problems: [...BODY_PROBLEMS, "invalidBody", "notJson"],
  });
  registerAdmin(registry, {
    method: "get",
    path: "/admin/api/tenants",
    operationId: "listTenants",
    summary: "Every tenant with its settings, oldest first",
    description: "Every tenant with its settings, oldest first.",
    ok: {
      200: {
        description: "The tenants",
        content: json(
          z
            .strictObject({ data: z.array(TenantSchema).meta({ description: "Every tenant" }) })
            .meta({ id: "TenantList", description: "Every tenant" }),
        ),
      },
    },
    problems: [],
  });
  registerAdmin(registry, {
    method: "get",
    path: "/admin/api/tenants/{id}",
    operationId: "getTenant",
    summary: "One tenant with its settings and what is used of its quota and budget",
    description: "The tenant with `limits`.",
    request: { params: TenantParams },
    ok: { 200: { description: "The tenant", content: json(TenantWithLimitsSchema) } },
    problems: ["badPath", "noTenant"],
  });
  registerAdmin(registry, {
    method: "patch",
    path: "/admin/api/tenants/{id}",
    operationId: "updateTenant",
    summary: "Change a tenant's name or settings",
    description:
      "Only the fields sent change; null lifts a cap, quota or budget. Workers and API processes take it at once.",
    request: { params: TenantParams, body: { required: true, content: json(TenantPatchSchema, { weight: 2 }) } },
    ok: { 200: { description: "The tenant", content: json(TenantWithLimitsSchema) } },
    problems: [...BODY_PROBLEMS, "badPath", "noTenant", "invalidBody", "notJson", "settingsNotice"],
  });
  registerAdmin(registry, {
    method: "get",
    path: "/admin/api/tenants/{id}/usage",
    operationId: "getTenantUsage",
    summary: "A tenant's usage, as GET /v1/usage answers it",
    description: "As GET /v1/usage, for any tenant.",
    request: { params: TenantParams, query: UsageQuerySchema },
    ok: { 200: { description: "The usage", content: json(UsageSchema) } },
    problems: ["badPath", "noTenant", "invalidUsage"],
  });
  registerAdmin(registry, {
    method: "get",
    path: "/admin/api/tenants/{id}/keys",
    operationId: "listTenantKeys",
    summary: "A tenant's API keys (never the keys themselves)",
    description: "The tenant's keys, oldest first, revoked ones included.",
    request: { params: TenantParams },
    ok: {
      200: {
        description: "The keys",
        content: json(
          z
            .strictObject({ data: z.array(ApiKeySchema).meta({ description: "The keys, oldest first" }) })
            .meta({ id: "ApiKeyList", description: "A tenant's API keys" }),
        ),
      },
    },
    problems: ["badPath", "noTenant"],
  });
  registerAdmin(registry, {
    method: "post",
    path: "/admin/api/tenants/{id}/keys",
    operationId: "addTenantKey",
    summary: "Add an API key to a tenant",
    description: "A new key for the tenant; shown once.",
    request: { params: TenantParams, body: { required: true, content: json(KeyAddSchema, { name: "ci" }) } },
    ok: {
      201: {
        description: "The key",
        content: json(
          z
            .strictObject({
              id: z.string().meta({ description: "The key's id" }),
              api_key: z.string().meta({ description: "Shown once", example: "dr_live_…" }),
            })
            .meta({ id: "ApiKeyCreated", description: "A new API key" }),
        ),
      },
    },
    problems: [...BODY_PROBLEMS, "badPath", "noTenant", "invalidBody", "notJson"],
  });
  registerAdmin(registry, {
    method: "post",
    path: "/admin/api/keys/{id}/revoke",
    operationId: "revokeKey",
    summary: "Revoke an API key",
    description:
      "Every API process refuses it (401) within moments (cached keys are dropped through Redis). Idempotent.",
    request: { params: z.object({ id: z.string().meta({ description: "The key's id" }) }) },
    ok: { 200: { description: "The key, with its (first) revoked_at", content: json(ApiKeySchema) } },
    problems: [...BODY_PROBLEMS, "badPath", "noKey", "revokeNotice"],
  });
  registerAdmin(registry, {
    method: "post",
    path: "/admin/api/tenants/{id}/webhook-secret/rotate",
    operationId: "rotateWebhookSecret",
    summary: "A new webhook secret for a tenant",
    description:
      "Webhooks carry a signature with the previous secret too until previous_valid_until (WEBHOOK_SECRET_GRACE_HOURS).",
    request: { params: TenantParams },
    ok: {
      200: {
        description: "The new secret",
        content: json(
          z
            .strictObject({
              webhook_secret: secret,
              previous_valid_until: z
                .string()
                .meta({ description: "Until when the previous secret still signs", format: "date-time" }),
            })
            .meta({ id: "WebhookSecretRotated", description: "A new webhook secret" }),
        ),
      },
    },
    problems: [...BODY_PROBLEMS, "badPath", "noTenant"],
  });
  registerAdmin(registry, {
    method: "get",
    path: "/admin/api/overview",
    operationId: "getOverview",
    summary: "Dashboard: the whole system at a glance",
    description:
      "Jobs by status, queue, admission, the upstream quota guard, circuit breakers, the last hour (all tenants).",
    ok: { 200: { description: "The overview", content: json(OverviewSchema) } },
    problems: [],
  });
  registerAdmin(registry, {
    method: "get",
    path: "/admin/api/jobs",
    operationId: "listAllJobs",
    summary: "Dashboard: find jobs of every tenant, newest first",
    description:
      "Filters combine (all must hold). `q` is an exact job id, or words that must all be in the prompt (whole words, any case; full-text search on an index). `metadata=key=value` matches a string value, or the number or boolean it spells. progress.queue_position and progress.eta_seconds are null here: open one job for them.",
    request: { query: AdminJobsQuerySchema },
    ok: {
      200: {
        description: "A page of jobs",
        content: json(jobPage(AdminJobSchema, "AdminJobPage", "A page of jobs of every tenant")),
      },
    },
    problems: ["invalidQuery"],
  });
  registerAdmin(registry, {
    method: "get",
    path: "/admin/api/jobs/count",
    operationId: "countAllJobs",
    summary: "Dashboard: how many jobs match a filter",
    description: "The same filter as `GET /admin/api/jobs`, without paging.",
    request: { query: AdminJobFilterSchema },
    ok: {
      200: {
        description: "The count",
        content: json(
          z
            .object({ count: z.number().int().meta({ description: "Jobs matching the filter", example: 42 }) })
            .meta({ id: "AdminJobCount", description: "How many jobs match" }),
        ),
      },
    },
    problems: ["invalidQuery"],
  });
  registerAdmin(registry, {
    method: "get",
    path: "/admin/api/trends",
    operationId: "readTrends",
    summary: "Dashboard: the overview's charts, per bucket over the last hour or day",
    description:
      "Every series has one value per bucket, oldest first, starting at `from`; the last bucket is still filling. Jobs ended (succeeded, failed, canceled) count in the bucket they ended in; deliveries in the bucket they were sent in. Each statement reads the window's rows through an index.",
    request: { query: AdminTrendsQuerySchema },
    ok: {
      200: {
        description: "The series",
        content: json(TrendsSchema),
      },
    },
    problems: ["invalidQuery"],
  });
  registerAdmin(registry, {
    method: "post",
    path: "/admin/api/jobs/{id}/cancel",
    operationId: "cancelAnyJob",
    summary: "Console: cancel any tenant's queued or running job",
    description:
      "As `POST /v1/jobs/{id}/cancel` (a running attempt's upstream call is aborted at once), for any tenant; `job.canceled` records `actor: admin`.",
    request: { params: JobIdParams },
    ok: { 200: { description: "The canceled job", content: json(AdminJobSchema) } },
    problems: [...BODY_PROBLEMS, "badPath", "noAnyJob", "notCancelable"],
  });
  registerAdmin(registry, {
    method: "post",
    path: "/admin/api/jobs/{id}/retry",
    operationId: "retryAnyJob",
    summary: "Console: run any tenant's failed or canceled job again",
    description:
      "As `POST /v1/jobs/{id}/retry` (a fresh attempt budget, taken from the tenant's quota and budget), for any tenant; `job.queued` records `retry: true, actor: admin`.",
    request: { params: JobIdParams },
    ok: { 202: { description: "Queued again", content: json(AdminJobSchema) } },
    problems: [...BODY_PROBLEMS, "badPath", "noAnyJob", "notRetryable", "quota", "budget"],
  });
  registerAdmin(registry, {
    method: "post",
    path: "/admin/api/webhook-deliveries/{id}/redeliver",
    operationId: "redeliverAnyWebhook",
    summary: "Console: send a delivery's event again, for any tenant",
    description:
      "As `POST /v1/webhook-deliveries/{id}/redeliver`, without the tenant's redelivery limit; `job.webhook_redelivered` records `actor: admin`.",
    request: {
      params: z.object({
        id: z.string().meta({ description: "A delivery's id", example: "whd_01KBX7RZ0J3V9Q2M6T8W4YHN5C" }),
      }),
    },
    ok: {
      202: {
        description: "The new attempt, or the pending one of an earlier redelivery of the event",
        content: json(WebhookDeliverySchema),
      },
    },
    problems: [...BODY_PROBLEMS, "badPath", "noAnyDelivery"],
  });
  registerAdmin(registry, {
    method: "post",
    path: "/admin/api/jobs/bulk",
    operationId: "bulkJobs",
    summary: "Console: retry or cancel every job matching a filter",
    description:
      "Runs server-side in batches of 100 (each job recorded with `actor: admin`); poll `GET /admin/api/jobs/bulk/{id}` for its progress. The targets are the jobs matching when it starts, each visited once: running it again, or a retried job failing again, never repeats an action; jobs no longer in a state the action applies to count as `skipped`. An `Idempotency-Key` answers the operation it started (200, `Idempotent-Replayed: true`). An empty filter needs `expected_count`; a count that changed since the confirmation answers 409. An operation whose API process stops is taken over by another within 30 s.",
    request: {
      headers: z.object({
        "Idempotency-Key": z.string().optional().meta({ description: "1 to 255 visible ASCII characters" }),
      }),
      body: {
        required: true,
        content: json(BulkRequestSchema, {
          action: "retry",
          filter: { status: ["failed"], error_code: "upstream_timeout" },
          expected_count: 42,
        }),
      },
    },
    ok: {
      202: { description: "Started", content: json(BulkOperationSchema) },
      200: { description: "The operation this Idempotency-Key started", content: json(BulkOperationSchema) },
    },
    problems: [...BODY_PROBLEMS, "invalidBody", "bulkCountChanged"],
  });
  registerAdmin(registry, {
    method: "get",
    path: "/admin/api/jobs/bulk/{id}",
    operationId: "getBulkJobs",
    summary: "Console: a bulk operation's progress",
    description: "`processed` of `total` so far; `status` ends `succeeded` (or `failed`, with `error`).",
    request: {
      params: z.object({
        id: z.string().meta({ description: "The operation's id", example: "bulk_01KBX7RZ0J3V9Q2M6T8W4YHN5C" }),
      }),
    },
    ok: { 200: { description: "The operation", content: json(BulkOperationSchema) } },
    problems: ["noBulk"],
  });
  for (const method of ["post", "delete"] as const) {
    registerAdmin(registry, {
      method,
      path: "/admin/api/session",
      operationId: method === "post" ? "openQueuesSession" : "endQueuesSession",
      summary:
        method === "post" ? "Console: open a browser session for Bull Board" : "Console: end the Bull Board session",
      description:
        method === "post"
          ? "Sets the `darkroom_queues` cookie (HttpOnly, SameSite=Strict, Path=/admin/queues, 12 h; Secure over https), an HMAC of the admin token and never the token itself, so that a browser can open Bull Board at /admin/queues (a page cannot send an Authorization header). The dashboard calls it when it signs in."
          : "Clears the `darkroom_queues` cookie. The dashboard calls it when it signs out.",
      ok: { 204: { description: method === "post" ? "The cookie is set" : "The cookie is cleared" } },
      problems: [],
    });
  }
  registerAdmin(registry, {
    method: "get",
    path: "/admin/api/jobs/{id}",
    operationId: "getAnyJob",
    summary: "Dashboard: one job with its events and webhook deliveries",
    description: "Any tenant's job, with what the upstream said on each attempt.",
    request: { params: JobIdParams },
    ok: { 200: { description: "The job", content: json(AdminJobDetailSchema) } },
    problems: ["badPath", "noAnyJob"],
  });
  registerAdmin(registry, {
    method: "get",
    path: "/admin/api/stream",
    operationId: "streamAllEvents",
    summary: "Dashboard: SSE of every new event of every job",
    description:
      "Starts from now, or after Last-Event-ID (the backlog is replayed once; further behind than 10,000 events, a `reset` event tells the client to reload its lists). One reader per API process serves every open tab, every 250 ms, under any event rate; an event committed late (its seq lower than ones already sent) is still sent, once, up to 60 s after its seq was taken. Frames carry `{seq, type, job_id, tenant_id, data, created_at}` and, for every type but `job.progress`, `job`: the job's row as `GET /admin/api/jobs` lists it (null when it is gone). A frame's `id:` is the highest seq sent so far on the connection (never lower), so a late event's `id` is above its own `seq`.",
    request: {
      headers: z.object({
        "Last-Event-ID": z.string().optional().meta({ description: "Resume after this `id:` (a seq)" }),
      }),
    },
    ok: {
      200: {
        description: "The event stream",
        content: { "text/event-stream": { schema: z.string().meta({ description: "Server-sent events" }) } },
      },
    },
    problems: [],
  });
}

/** Routes without authentication: health, metrics, this reference, the dashboard. */
export function registerServicePaths(registry: OpenAPIRegistry): void {
  const open = (path: string, operationId: string, summary: string, responses: RouteConfig["responses"]) =>
    registry.registerPath({
      method: "get",
      path,
      operationId,
      tags: ["Service"],
      summary,
      description: summary,
      security: [],
      responses,
    });
  const health = z.strictObject({ status: z.literal("ok").meta({ description: "Always `ok`" }) }).meta({
    id: "Health",
    description: "The process is up",
  });
  const readiness = z
    .strictObject({
      status: z.enum(["ready", "not_ready"]).meta({ description: "Whether the API can serve" }),
      checks: z
        .strictObject({
          postgres: z.string().meta({ description: "`ok` or `unavailable: <reason>`" }),
          redis: z.string().meta({ description: "`ok` or `unavailable: <reason>`" }),
          workers: z.string().meta({ description: "`ok`, `unavailable: <jobs waiting too long>`, or `paused: …`" }),
          upstream_quota: z.string().meta({ description: "The upstream quota guard's state, in words" }),
        })
        .meta({ description: "Each check" }),
    })
    .meta({ id: "Readiness", description: "Readiness and its checks" });
  open("/healthz", "healthz", "Liveness", {
    200: { description: "Alive", content: { "application/json": { schema: health } } },
  });
  open(
    "/readyz",
    "readyz",
    "Readiness: Postgres and Redis reachable and workers taking jobs (a generation paused for quota does not make the API unready)",
    {
      200: { description: "Ready", content: { "application/json": { schema: readiness } } },
      503: {
        description: "Not ready; `checks` names the cause",
        content: { "application/json": { schema: readiness } },
      },
    },
  );
  open("/metrics", "metrics", "Prometheus metrics", {
    200: {
      description: "Text exposition format",
      content: { "text/plain": { schema: z.string().meta({ description: "Metrics" }) } },
    },
  });
  open("/openapi.json", "openapi", "This document (OpenAPI 3.1)", {
    200: {
      description: "OpenAPI 3.1",
      content: {
        "application/json": { schema: z.record(z.string(), z.unknown()).meta({ description: "The document" }) },
      },
    },
  });
  open("/docs", "docs", "This document, rendered (Redoc, served from this API: no external requests)", {
    200: { description: "HTML", content: { "text/html": { schema: z.string().meta({ description: "The page" }) } } },
  });
  open("/docs/redoc.standalone.js", "docsScript", "The renderer's script (Redoc's standalone bundle)", {
    200: {
      description: "JavaScript",
      content: { "text/javascript": { schema: z.string().meta({ description: "The script" }) } },
    },
  });
  open("/dashboard", "dashboard", "The dashboard (single-page app; sign in with the admin token)", {
    302: {
      description: "To /dashboard/",
      headers: { Location: { description: "/dashboard/", schema: { type: "string" } } },
    },
  });
}
