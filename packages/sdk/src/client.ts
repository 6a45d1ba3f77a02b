import { isTerminal, type JobCreateInput, type JobView, type UsageReport } from "./api-types.js";
import { DarkroomError, DarkroomTimeoutError } from "./errors.js";
import { streamJobEvents } from "./event-stream.js";
import { type RequestSpec, requestJson, send, sleep, type Transport, translateFailure } from "./http.js";
import type {
  CreateJobOptions,
  CreateJobResult,
  DarkroomClientOptions,
  DarkroomEvent,
  DownloadedImage,
  EventPage,
  GetJobOptions,
  JobPage,
  ListJobsQuery,
  StreamEventsOptions,
  UsageQuery,
  WaitForJobOptions,
  WebhookDelivery,
  WebhookTestResult,
} from "./types.js";

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_WAIT_TIMEOUT_MS = 15 * 60_000;
const MAX_WAIT_SECONDS = 60;

function preferWait(waitSeconds: number | undefined): Pick<RequestSpec, "headers" | "extraTimeoutMs"> {
  if (waitSeconds === undefined) return {};
  if (!Number.isInteger(waitSeconds) || waitSeconds < 0 || waitSeconds > MAX_WAIT_SECONDS) {
    throw new RangeError(`waitSeconds must be a whole number from 0 to ${MAX_WAIT_SECONDS}, got ${waitSeconds}`);
  }
  // The server holds the answer for up to N seconds on purpose: that is not part of the timeout.
  return { headers: { prefer: `wait=${waitSeconds}` }, extraTimeoutMs: waitSeconds * 1000 };
}

function isoDate(value: string | Date | undefined): string | undefined {
  return value instanceof Date ? value.toISOString() : value;
}

const jobPath = (id: string) => `/v1/jobs/${encodeURIComponent(id)}`;

/**
 * A client of one Darkroom API with one tenant's API key. Every method throws {@link DarkroomError}
 * when the API answers with an error or does not answer; none retries on its own, except
 * `waitForJob` and `streamEvents`, whose whole point is to keep following a job.
 */
export class DarkroomClient {
  private readonly transport: Transport;

  constructor(options: DarkroomClientOptions) {
    if (options.baseUrl === "" || options.apiKey === "") throw new TypeError("baseUrl and apiKey are required");
    const fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.transport = {
      baseUrl: options.baseUrl,
      apiKey: options.apiKey,
      fetch: fetchImpl,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    };
  }

  /**
   * `POST /v1/jobs`. With `idempotencyKey`, a repeated request (after a timeout, say) answers the
   * first job with `replayed: true`; with `waitSeconds`, the answer waits up to that long for the
   * job to finish (`finished: true`).
   */
  async createJob(input: JobCreateInput, options: CreateJobOptions = {}): Promise<CreateJobResult> {
    const wait = preferWait(options.waitSeconds);
    const headers = { ...wait.headers };
    if (options.idempotencyKey !== undefined) headers["idempotency-key"] = options.idempotencyKey;
    const { body, response } = await requestJson<JobView>(this.transport, {
      method: "POST",
      path: "/v1/jobs",
      body: input,
      headers,
      extraTimeoutMs: wait.extraTimeoutMs,
    });
    return {
      job: body,
      replayed: response.headers.get("idempotent-replayed") === "true",
      finished: isTerminal(body.status),
    };
  }

  /** `GET /v1/jobs/{id}`; with `waitSeconds`, waits up to that long for the job to finish. */
  async getJob(id: string, options: GetJobOptions = {}): Promise<JobView> {
    const spec: RequestSpec = { method: "GET", path: jobPath(id), ...preferWait(options.waitSeconds) };
    if (options.signal !== undefined) spec.signal = options.signal;
    return (await requestJson<JobView>(this.transport, spec)).body;
  }

  /** One page of `GET /v1/jobs`, newest first. */
  async listJobs(query: ListJobsQuery = {}): Promise<JobPage> {
    const { body } = await requestJson<{ data: JobView[]; next_cursor: string | null }>(this.transport, {
      method: "GET",
      path: "/v1/jobs",
      query: {
        status: query.status,
        model: query.model,
        result_model: query.result_model,
        created_after: isoDate(query.created_after),
        created_before: isoDate(query.created_before),
        limit: query.limit === undefined ? undefined : String(query.limit),
        cursor: query.cursor,
      },
    });
    return { data: body.data, nextCursor: body.next_cursor };
  }

  /** Every job matching `query`, newest first, fetching page after page (`limit` per page) as the loop asks. */
  async *listAllJobs(query: ListJobsQuery = {}): AsyncGenerator<JobView, void, undefined> {
    let cursor = query.cursor;
    for (;;) {
      const page = await this.listJobs({ ...query, cursor });
      yield* page.data;
      if (page.nextCursor === null) return;
      cursor = page.nextCursor;
    }
  }

  /** `POST /v1/jobs/{id}/cancel`: the job, canceled. A terminal job answers `conflict` (409). */
  async cancelJob(id: string): Promise<JobView> {
    return (await requestJson<JobView>(this.transport, { method: "POST", path: `${jobPath(id)}/cancel` })).body;
  }

  /** `POST /v1/jobs/{id}/retry`: re-runs a failed or canceled job; otherwise `conflict` (409). */
  async retryJob(id: string): Promise<JobView> {
    return (await requestJson<JobView>(this.transport, { method: "POST", path: `${jobPath(id)}/retry` })).body;
  }

  /**
   * Resolves with the job once it is terminal (succeeded, failed or canceled: check `status`). Holds
   * one `Prefer: wait=60` request at a time, so it costs about one request a minute. Transient
   * failures (no answer, 429, 5xx) are retried until the timeout, honouring `Retry-After`.
   *
   * @throws DarkroomTimeoutError when `timeoutMs` passes first, with the job as last seen.
   */
  async waitForJob(id: string, options: WaitForJobOptions = {}): Promise<JobView> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    let last: JobView | null = null;
    for (;;) {
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0 && last !== null) throw new DarkroomTimeoutError(last, timeoutMs);
      const waitSeconds = Math.min(MAX_WAIT_SECONDS, Math.max(0, Math.ceil(remainingMs / 1000)));
      try {
        last = await this.getJob(id, { waitSeconds, signal: options.signal });
        if (isTerminal(last.status)) return last;
      } catch (error) {
        if (!(error instanceof DarkroomError && error.retryable) || deadline - Date.now() <= 0) throw error;
        await sleep(
          Math.min((error.retryAfterSeconds ?? 1) * 1000, Math.max(0, deadline - Date.now())),
          options.signal,
        );
      }
    }
  }

  /** One page of a job's event log (up to 500 events) after the event with `seq` = `after`. */
  async listEvents(id: string, options: { after?: number } = {}): Promise<EventPage> {
    const { body } = await requestJson<{ data: DarkroomEvent[]; has_more: boolean }>(this.transport, {
      method: "GET",
      path: `${jobPath(id)}/events`,
      query: { after: options.after === undefined ? undefined : String(options.after) },
    });
    return { data: body.data, hasMore: body.has_more };
  }

  /**
   * A job's events live over SSE, in `seq` order and each once, ending after the terminal event
   * (`job.succeeded`, `job.failed` or `job.canceled`, which carry the job). Dropped connections and
   * streams the server ends early (a restart) are resumed with `Last-Event-ID` after the server's
   * `retry:` delay, unless `reconnect` is false. Breaking out of the loop closes the connection.
   *
   * @example
   * for await (const event of client.streamEvents(job.id)) console.log(event.seq, event.type);
   */
  streamEvents(id: string, options: StreamEventsOptions = {}): AsyncGenerator<DarkroomEvent, void, undefined> {
    return streamJobEvents(
      {
        transport: this.transport,
        jobId: id,
        getJob: () => this.getJob(id, { signal: options.signal }),
        listEvents: (after) => this.listEvents(id, { after }),
      },
      options,
    );
  }

  /** `GET /v1/jobs/{id}/webhook-deliveries`: every delivery attempt of the job's webhooks. */
  async listWebhookDeliveries(jobId: string): Promise<WebhookDelivery[]> {
    const path = `${jobPath(jobId)}/webhook-deliveries`;
    return (await requestJson<{ data: WebhookDelivery[] }>(this.transport, { method: "GET", path })).body.data;
  }

  /**
   * `POST /v1/webhook-deliveries/{id}/redeliver`: sends that event again (same `webhook-id` and body);
   * resolves with the new attempt, or with the one still pending from an earlier redelivery of the
   * event. Over the tenant's `WEBHOOK_REDELIVERIES_PER_MINUTE` it throws a `DarkroomError` with
   * `code: "rate_limited"` and `retryAfterSeconds`.
   */
  async redeliverWebhook(deliveryId: string): Promise<WebhookDelivery> {
    const path = `/v1/webhook-deliveries/${encodeURIComponent(deliveryId)}/redeliver`;
    return (await requestJson<WebhookDelivery>(this.transport, { method: "POST", path })).body;
  }

  /**
   * `POST /v1/webhooks/test`: sends one signed `webhook.test` event to `url` now, signed and sent as
   * real deliveries are, and resolves with what the receiver did (`ok`, `status`, `error`): a
   * receiver that answers 500 or cannot be reached resolves with `ok: false`, not a rejection. A URL
   * webhooks may not reach (a private address, unless the server's `ALLOW_PRIVATE_WEBHOOK_URLS`
   * allows it) rejects with `validation_failed` naming `url`.
   */
  async sendTestWebhook(url: string): Promise<WebhookTestResult> {
    const { body } = await requestJson<WebhookTestResult>(this.transport, {
      method: "POST",
      path: "/v1/webhooks/test",
      body: { url },
    });
    return body;
  }

  /**
   * `GET /v1/usage`: the tenant's finished jobs, images, tokens and estimated cost in a range (by UTC
   * day or by model, with totals), and its `images_per_day` and `monthly_budget_usd` with what is
   * used of each. A bad range rejects with `validation_failed`.
   */
  async getUsage(query: UsageQuery = {}): Promise<UsageReport> {
    const { body } = await requestJson<UsageReport>(this.transport, {
      method: "GET",
      path: "/v1/usage",
      query: { from: isoDate(query.from), to: isoDate(query.to), group_by: query.groupBy },
    });
    return body;
  }

  /** `GET /v1/jobs/{id}/images/{index}`: the stored bytes of a succeeded job's image. */
  async downloadImage(jobId: string, index: number): Promise<DownloadedImage> {
    const spec: RequestSpec = { method: "GET", path: `${jobPath(jobId)}/images/${index}`, headers: { accept: "*/*" } };
    const response = await send(this.transport, spec);
    try {
      const bytes = new Uint8Array(await response.arrayBuffer());
      return { bytes, contentType: response.headers.get("content-type") ?? "application/octet-stream" };
    } catch (error) {
      throw translateFailure(error, spec, this.transport.timeoutMs);
    }
  }
}
