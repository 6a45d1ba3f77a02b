// The tenant API (`/v1`, API key). Adding a route: its schemas, then one `register` call here.
import type { OpenAPIRegistry } from "@asteasolutions/zod-to-openapi";
import { JobCreateSchema, JobListQuerySchema, UsageQuerySchema } from "@darkroom/domain";
import { z } from "zod";
import { WebhookTestSchema } from "../routes/webhooks";
import { EventPageSchema } from "./event-schemas";
import { JOB_ID_EXAMPLE, JobSchema, jobPage } from "./job-schemas";
import { API_KEY_PROBLEMS, BODY_PROBLEMS, problemResponses } from "./problems";
import { DeliveryListSchema, UsageSchema, WebhookDeliverySchema, WebhookTestResultSchema } from "./resource-schemas";

/** A JSON body or answer of `schema`, with an example when given. */
export const json = (schema: z.ZodType, example?: unknown) => ({
  "application/json": example === undefined ? { schema } : { schema, example },
});

export const JobIdParams = z.object({
  id: z.string().meta({ description: "The job's id", example: JOB_ID_EXAMPLE, param: { description: "The job's id" } }),
});

const preferWait = z.string().optional().meta({
  description:
    "`wait=<seconds>` (0-60, more is taken as 60): answer when the job is over or when the time runs out (200 or 202); holds one of the key's stream slots while it waits",
  example: "wait=30",
});

const answerHeaders = z.object({
  Location: z.string().meta({ description: "The job's URL", example: `/v1/jobs/${JOB_ID_EXAMPLE}` }),
  "Preference-Applied": z
    .string()
    .optional()
    .meta({ description: "With Prefer: wait, the wait applied", example: "wait=30" }),
  "Idempotent-Replayed": z
    .literal("true")
    .optional()
    .meta({ description: "The answer replays the job an earlier request with this Idempotency-Key created" }),
});

/** The body `POST /v1/jobs` validates with, named in the document. */
const JobCreateBody = JobCreateSchema.meta({
  id: "JobCreate",
  description: "A new job: only `prompt` is required. Unknown fields are refused (400), so typos never pass silently",
});

const CREATE_EXAMPLE = {
  prompt: "a lighthouse at dusk, watercolor",
  n: 2,
  size: "1536x1024",
  webhook_url: "https://example.com/hooks/darkroom",
  metadata: { order: "A-1042" },
};

export function registerV1Paths(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: "post",
    path: "/v1/jobs",
    operationId: "createJob",
    tags: ["Jobs"],
    summary: "Create a job",
    description:
      "Queues a generation job and answers at once with the queued job (202), or, with `Prefer: wait`, when it is over (200) or the wait ran out (202). With an `Idempotency-Key` the same key and body answer the job the first request created.",
    request: {
      headers: z.object({
        "Idempotency-Key": z
          .string()
          .optional()
          .meta({ description: "1 to 255 visible ASCII characters; the same key and body answer the same job" }),
        Prefer: preferWait,
      }),
      body: { required: true, description: "The job", content: json(JobCreateBody, CREATE_EXAMPLE) },
    },
    responses: {
      200: {
        description: "Prefer: wait: the job finished in time",
        headers: answerHeaders,
        content: json(JobSchema),
      },
      202: {
        description: "Queued (or an idempotent replay, or Prefer: wait ran out): the job as it is now",
        headers: answerHeaders,
        content: json(JobSchema),
      },
      ...problemResponses([
        ...API_KEY_PROBLEMS,
        ...BODY_PROBLEMS,
        "invalidJob",
        "notJson",
        "idempotencyMismatch",
        "streamSlots",
        "quota",
        "budget",
      ]),
    },
  });

  registry.registerPath({
    method: "get",
    path: "/v1/jobs",
    operationId: "listJobs",
    tags: ["Jobs"],
    summary: "List jobs, newest first",
    description: "The tenant's jobs, newest first, a page at a time (follow `next_cursor`).",
    request: { query: JobListQuerySchema },
    responses: {
      200: { description: "A page of jobs", content: json(jobPage(JobSchema, "JobPage", "A page of jobs")) },
      ...problemResponses([...API_KEY_PROBLEMS, "invalidQuery"]),
    },
  });

  registry.registerPath({
    method: "get",
    path: "/v1/jobs/{id}",
    operationId: "getJob",
    tags: ["Jobs"],
    summary: "Get a job",
    description:
      "The job with its progress, attempts and result. With `Prefer: wait`, answers when the job is over (200) or when the wait ran out (202, the job as it is then).",
    request: { params: JobIdParams, headers: z.object({ Prefer: preferWait }) },
    responses: {
      200: { description: "The job (with Prefer: wait: it finished in time)", content: json(JobSchema) },
      202: {
        description: "Prefer: wait ran out before the job finished: the job as it is now",
        content: json(JobSchema),
      },
      ...problemResponses([...API_KEY_PROBLEMS, "badPath", "noJob", "streamSlots"]),
    },
  });

  registry.registerPath({
    method: "post",
    path: "/v1/jobs/{id}/cancel",
    operationId: "cancelJob",
    tags: ["Jobs"],
    summary: "Cancel a queued or running job",
    description: "Stops the job: a running attempt's upstream call is aborted at once. Sends `job.canceled`.",
    request: { params: JobIdParams },
    responses: {
      200: { description: "The canceled job", content: json(JobSchema) },
      ...problemResponses([...API_KEY_PROBLEMS, ...BODY_PROBLEMS, "badPath", "noJob", "notCancelable"]),
    },
  });

  registry.registerPath({
    method: "post",
    path: "/v1/jobs/{id}/retry",
    operationId: "retryJob",
    tags: ["Jobs"],
    summary: "Run a failed or canceled job again",
    description:
      "Queues the job again with a fresh attempt budget (and deadline); it takes from the quota and budget like a new job.",
    request: { params: JobIdParams },
    responses: {
      202: { description: "Queued again", content: json(JobSchema) },
      ...problemResponses([
        ...API_KEY_PROBLEMS,
        ...BODY_PROBLEMS,
        "badPath",
        "noJob",
        "notRetryable",
        "quota",
        "budget",
      ]),
    },
  });

  registry.registerPath({
    method: "get",
    path: "/v1/jobs/{id}/events",
    operationId: "listJobEvents",
    tags: ["Jobs"],
    summary: "The job's events: SSE with Accept: text/event-stream, else JSON pages",
    description:
      "With `Accept: text/event-stream`: a `retry:` hint, the events after `Last-Event-ID` (or `after`), then live ones as they are committed, ending after the terminal event; `: keep-alive` comments meanwhile. Each frame is `id: <seq>`, `event: <type>`, `data: <StreamEvent JSON>`. Unless `live=false`, a progress is also sent the moment the worker has it, before it is committed (see LiveProgressEvent); the durable event then comes as its `id:` alone when the client already saw that progress, which moves Last-Event-ID without dispatching an event. Without that Accept header: one JSON page of up to 100 events after `after`.",
    request: {
      params: JobIdParams,
      query: z.object({
        after: z
          .string()
          .regex(/^\d+$/)
          .optional()
          .meta({ description: "Events after this seq (default 0: from the start)" }),
        live: z
          .enum(["true", "false"])
          .optional()
          .meta({ description: "SSE only: false leaves out live progress (every event in full with its seq)" }),
      }),
      headers: z.object({
        Accept: z
          .string()
          .optional()
          .meta({ description: "`text/event-stream` for the stream", example: "text/event-stream" }),
        "Last-Event-ID": z.string().optional().meta({ description: "SSE: resume after this seq (wins over `after`)" }),
      }),
    },
    responses: {
      200: {
        description: "A page of events, or the event stream",
        content: {
          ...json(EventPageSchema),
          "text/event-stream": {
            schema: z.string().meta({
              description:
                "Server-sent events whose `data:` lines are StreamEvent JSON (#/components/schemas/StreamEvent)",
              example:
                'retry: 2000\n\nid: 118\nevent: job.progress\ndata: {"id":"evt_…","object":"event","seq":118,"type":"job.progress","job_id":"job_…","created_at":"…","data":{"attempt":1,"percent":40,"stage":"generating"}}\n\n',
            }),
          },
        },
      },
      ...problemResponses([...API_KEY_PROBLEMS, "badPath", "noJob", "invalidSeq", "streamSlots"]),
    },
  });

  registry.registerPath({
    method: "get",
    path: "/v1/jobs/{id}/images/{index}",
    operationId: "getJobImage",
    tags: ["Jobs"],
    summary: "A stored image (API key, or the signed URL's expires + signature)",
    description:
      "With the API key of the job's tenant, or without a key through the signed URL in `result.images[].url` (the query must be exactly `expires=…&signature=…`, as given).",
    security: [{ apiKey: [] }, {}],
    request: {
      params: JobIdParams.extend({
        index: z
          .string()
          .regex(/^\d{1,2}$/)
          .meta({ description: "The image's index (0-based)", example: "0" }),
      }),
      query: z.object({
        expires: z.string().optional().meta({
          description:
            "Signed URL: unix seconds, no leading zeros; at most the longest lifetime Darkroom signs ahead (the webhook retry window plus twice IMAGE_URL_TTL_SECONDS)",
        }),
        signature: z
          .string()
          .regex(/^[A-Za-z0-9_-]{43}$/)
          .optional()
          .meta({ description: "Signed URL: 43 base64url characters" }),
      }),
    },
    responses: {
      200: {
        description: "The image's bytes (ETag: its SHA-256; cacheable for an hour)",
        content: Object.fromEntries(
          ["image/png", "image/jpeg", "image/webp"].map((type) => [
            type,
            { schema: z.string().meta({ description: "The bytes", format: "binary" }) },
          ]),
        ),
      },
      ...problemResponses([...API_KEY_PROBLEMS, "signedUrl", "noImage"]),
    },
  });

  registry.registerPath({
    method: "get",
    path: "/v1/jobs/{id}/webhook-deliveries",
    operationId: "listWebhookDeliveries",
    tags: ["Webhooks"],
    summary: "Every webhook delivery attempt of the job",
    description: "Each send of each of the job's events to its webhook_url, oldest first, with the receiver's answer.",
    request: { params: JobIdParams },
    responses: {
      200: { description: "The deliveries", content: json(DeliveryListSchema) },
      ...problemResponses([...API_KEY_PROBLEMS, "badPath", "noJob"]),
    },
  });

  registry.registerPath({
    method: "post",
    path: "/v1/webhook-deliveries/{id}/redeliver",
    operationId: "redeliverWebhook",
    tags: ["Webhooks"],
    summary: "Send that event again (same webhook-id and body)",
    description:
      'Adds a manual attempt of the delivery\'s event, sent as soon as a worker is free. While an earlier redelivery of the same event is still pending, answers that one instead. Each tenant may redeliver WEBHOOK_REDELIVERIES_PER_MINUTE times a minute; the answer adds a `"redeliveries"` policy to `RateLimit-Policy` and `RateLimit`.',
    request: {
      params: z.object({
        id: z.string().meta({ description: "A delivery's id", example: "whd_01KBX7RZ0J3V9Q2M6T8W4YHN5C" }),
      }),
    },
    responses: {
      202: {
        description: "The new attempt, or the pending one of an earlier redelivery of the event",
        content: json(WebhookDeliverySchema),
      },
      ...problemResponses([...API_KEY_PROBLEMS, ...BODY_PROBLEMS, "badPath", "noDelivery", "redeliveries"]),
    },
  });

  registry.registerPath({
    method: "post",
    path: "/v1/webhooks/test",
    operationId: "sendTestWebhook",
    tags: ["Webhooks"],
    summary: "Send a signed `webhook.test` event to a URL now",
    description:
      "Sends one `webhook.test` event to `url`, signed and sent as real deliveries are (the same headers, the tenant's secrets, WEBHOOK_TIMEOUT_MS, no redirects followed), and answers what the receiver did. Nothing is stored or retried: a receiver that fails is `ok: false`, not an error.",
    request: { body: { required: true, content: json(WebhookTestSchema, { url: "http://127.0.0.1:3901/hook" }) } },
    responses: {
      200: {
        description: "The event was sent (or could not be); `ok` says whether the receiver answered 2xx",
        content: json(WebhookTestResultSchema),
      },
      ...problemResponses([...API_KEY_PROBLEMS, ...BODY_PROBLEMS, "invalidWebhookTest", "notJson"]),
    },
  });

  registry.registerPath({
    method: "get",
    path: "/v1/usage",
    operationId: "getUsage",
    tags: ["Usage"],
    summary: "The tenant's usage by UTC day or model, with its limits",
    description:
      "Jobs, images, tokens and estimated cost of the jobs that finished in the range, and the tenant's limits.",
    request: { query: UsageQuerySchema },
    responses: {
      200: { description: "The usage", content: json(UsageSchema) },
      ...problemResponses([...API_KEY_PROBLEMS, "invalidUsage"]),
    },
  });
}
