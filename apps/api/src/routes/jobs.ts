import { createHash } from "node:crypto";
import {
  createJob,
  enforceUsageLimits,
  findJobByIdempotencyKey,
  findJobForTenant,
  IdempotencyKeyTakenError,
  type JobRecord,
  type LiveProgress,
  listJobs,
  presentJob,
} from "@darkroom/db";
import { AppError, isId, isTerminal, type JobCreate, JobCreateSchema, JobListQuerySchema } from "@darkroom/domain";
import { type Response, Router } from "express";
import type { ApiDeps } from "../deps";
import { apiKeyOf, tenantOf, tenantShareOf } from "../http/context";
import { jobActions } from "../http/job-actions";
import { parsePreferWait, waitForTerminal } from "../http/job-watch";
import { idempotencyKeyOf, parseOrThrow } from "../http/validate";
import { assertWebhookUrlAllowed } from "../http/webhook-url";

/** Same request, same hash: the validated body with defaults applied, keys sorted. */
function requestHash(input: JobCreate): string {
  const canonical = (value: unknown): unknown =>
    value !== null && typeof value === "object" && !Array.isArray(value)
      ? Object.fromEntries(
          Object.entries(value as Record<string, unknown>)
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(([k, v]) => [k, canonical(v)]),
        )
      : Array.isArray(value)
        ? value.map(canonical)
        : value;
  return createHash("sha256")
    .update(JSON.stringify(canonical(input)))
    .digest("hex");
}

const asLimited = (input: JobCreate) => ({
  n: input.n,
  model: input.model,
  fallbackModel: input.fallback_model,
  hedgeAfterSeconds: input.hedge_after_seconds,
});

/** The idempotency key was taken meanwhile: by `createJob`'s own check, or a unique violation (Prisma P2002, Postgres 23505). */
function isUniqueViolation(error: unknown): boolean {
  if (error instanceof IdempotencyKeyTakenError) return true;
  const code = (error as { code?: string; meta?: { code?: string } })?.code;
  return code === "P2002" || code === "23505" || (error as { meta?: { code?: string } })?.meta?.code === "23505";
}

export function jobsRouter(deps: ApiDeps): Router {
  const router = Router();
  const views = async (jobs: JobRecord[]) => {
    const live = await deps.estimates.of(jobs);
    return jobs.map((job) => presentJob(job, (id, index) => deps.signer.url(id, index), live.get(job.id) ?? null));
  };
  const view = async (job: JobRecord, live?: LiveProgress) =>
    live === undefined ? (await views([job]))[0] : presentJob(job, (id, index) => deps.signer.url(id, index), live);
  const actions = jobActions(deps);
  const enqueue = (res: Response, job: JobRecord) => actions.enqueue(res.locals.log, job, tenantShareOf(res));
  const prices = deps.config.env.MODEL_PRICES;

  /**
   * Honours `Prefer: wait=N`: 200 with the terminal job, or 202 with the current one when the N
   * seconds ran out first. Without the header the answer is `plainStatus`.
   */
  const answer = async (
    res: Response,
    job: JobRecord,
    prefer: number | null,
    plainStatus: number,
    live?: LiveProgress,
  ) => {
    let current = job;
    let currentLive = live;
    if (prefer !== null) {
      res.setHeader("Preference-Applied", `wait=${prefer}`);
      if (!isTerminal(job.status) && prefer > 0) {
        const gone = new AbortController();
        res.once("close", () => gone.abort());
        current = (await waitForTerminal(deps, job.tenantId, job.id, prefer * 1000, gone.signal)) ?? job;
        currentLive = undefined;
        // The client left during the wait: nobody to answer.
        if (gone.signal.aborted) return;
      }
    }
    const status = prefer === null ? plainStatus : isTerminal(current.status) ? 200 : 202;
    res
      .status(status)
      .location(`/v1/jobs/${job.id}`)
      .json(await view(current, currentLive));
  };

  /**
   * Runs `work` holding one of the key's stream slots when the request will wait (`Prefer: wait`
   * above 0), so that waits count toward MAX_STREAMS_PER_KEY like event streams do.
   */
  const waiting = async (res: Response, prefer: number | null, work: () => Promise<void>) => {
    if (prefer === null || prefer === 0) return work();
    const slot = await deps.streamSlots.acquire(apiKeyOf(res));
    try {
      await work();
    } finally {
      slot.release();
    }
  };

  router.post("/v1/jobs", async (req, res) => {
    if (!req.is("application/json")) {
      throw new AppError(
        "unsupported_media_type",
        "Send the job as a JSON body with `Content-Type: application/json`.",
      );
    }
    const idempotencyKey = idempotencyKeyOf(req);
    const input = parseOrThrow(JobCreateSchema, req.body, "body");
    const tenantId = tenantOf(res);
    const prefer = parsePreferWait(req.get("prefer"));
    // Refused before the job exists: a 429 must not leave a job behind that the client never saw.
    await waiting(res, prefer, () => createAndAnswer(res, input, idempotencyKey, tenantId, prefer));
  });

  const createAndAnswer = async (
    res: Response,
    input: JobCreate,
    idempotencyKey: string | undefined,
    tenantId: string,
    prefer: number | null,
  ): Promise<void> => {
    // The hash only tells a replay from a different body under the same key: without a key there is nothing to compare.
    const hash = idempotencyKey === undefined ? null : requestHash(input);
    if (input.webhook_url !== null) {
      await assertWebhookUrlAllowed("webhook_url", input.webhook_url, deps.config.env.ALLOW_PRIVATE_WEBHOOK_URLS);
    }

    const replay = async (existing: JobRecord) => {
      if (existing.requestHash !== hash) {
        throw new AppError(
          "idempotency_mismatch",
          `Idempotency-Key "${idempotencyKey}" was used for a different request body (job ${existing.id}).`,
        );
      }
      res.setHeader("Idempotent-Replayed", "true");
      await answer(res, existing, prefer, 202);
    };

    if (idempotencyKey !== undefined) {
      const existing = await findJobByIdempotencyKey(deps.db, tenantId, idempotencyKey);
      if (existing !== null) return replay(existing);
    }
    let job: JobRecord;
    try {
      job = await createJob(deps.db, {
        tenantId,
        input,
        idempotencyKey: idempotencyKey ?? null,
        requestHash: hash,
        guard: (tx) => enforceUsageLimits(tx, { tenantId, job: asLimited(input), prices, idempotencyKey }),
        // Most tenants have no quota and no budget: their job is one statement, without a transaction.
        tenantUnlimited: res.locals.tenantLimited === false,
      });
    } catch (error) {
      // A concurrent request with the same key won the insert: answer as its replay.
      if (idempotencyKey !== undefined && isUniqueViolation(error)) {
        const existing = await findJobByIdempotencyKey(deps.db, tenantId, idempotencyKey);
        if (existing !== null) return replay(existing);
      }
      throw error;
    }
    deps.metrics.jobsCreated.inc();
    if (deps.config.env.TEST_FAULT === "kill_after_commit") {
      // Chaos suite only: the process dies between the commit and the enqueue.
      process.kill(process.pid, "SIGKILL");
    }
    // No event signal: nobody can be listening to a job id minted in this request.
    const live = await enqueue(res, job);
    await answer(res, job, prefer, 202, live);
  };

  router.get("/v1/jobs", async (req, res) => {
    const query = parseOrThrow(JobListQuerySchema, req.query, "query");
    const { jobs, nextCursor } = await listJobs(deps.db, tenantOf(res), query);
    res.json({ object: "list", data: await views(jobs), next_cursor: nextCursor });
  });

  router.get("/v1/jobs/:id", async (req, res) => {
    const job = isId("job", req.params.id) ? await findJobForTenant(deps.db, tenantOf(res), req.params.id) : null;
    if (job === null) throw new AppError("not_found", `No job ${req.params.id}.`);
    const prefer = parsePreferWait(req.get("prefer"));
    if (isTerminal(job.status)) return answer(res, job, prefer, 200);
    await waiting(res, prefer, () => answer(res, job, prefer, 200));
  });

  router.post("/v1/jobs/:id/cancel", async (req, res) => {
    const job = await actions.cancel(res.locals.log, tenantOf(res), req.params.id, "client");
    res.json(await view(job));
  });

  router.post("/v1/jobs/:id/retry", async (req, res) => {
    const { job, live } = await actions.retry(
      res.locals.log,
      tenantOf(res),
      req.params.id,
      "client",
      tenantShareOf(res),
    );
    res.status(202).json(await view(job, live));
  });

  return router;
}
