import {
  type AttemptDiagnosis,
  type AttemptErrorInput,
  type Claim,
  failAttempt,
  failHedgedAttempt,
  failQueuedPastDeadline,
  failQueueTimeout,
  type PrismaClient,
  type ReleaseReason,
  recordTimesToFirstByte,
  releaseJob,
  type StoredImageInput,
  startHedge,
} from "@darkroom/db";
import { imagesCostMicroUsd } from "@darkroom/domain";
import type { Logger } from "@darkroom/logger";
import { parsePayload, type ReleaseItem, type StartItem, withTimeout } from "@darkroom/queue";
import type { ImageStorage } from "@darkroom/storage";
import { isUpstreamError, UpstreamError } from "@darkroom/upstream";
import { DelayedError, type Job, RateLimitError } from "bullmq";
import type { Dispatcher } from "undici";
import type { WorkerConfig } from "../config";
import type { QuotaGuard } from "../maintenance/quota-guard";
import type { WorkerMetrics } from "../metrics";
import { createAttemptBatchers } from "./attempt-batchers";
import type { AttemptTicker, ProgressState } from "./attempt-ticker";
import { type CircuitGate, circuitOutcome } from "./circuit-gate";
import { hedgePlan, type RaceCall, RaceFailed, raceWithHedge } from "./hedge";
import { decideRetry } from "./policy";
import { type AttemptOutcome, runAttempt } from "./run-attempt";
import { storeImage } from "./store-images";

/** The abort reason when the worker process stops: the job goes back to the queue, unharmed. */
export class WorkerShutdown extends Error {
  constructor() {
    super("worker shutting down");
    this.name = "WorkerShutdown";
  }
}

export interface GenerationDeps {
  db: PrismaClient;
  storage: ImageStorage;
  config: WorkerConfig;
  logger: Logger;
  /** Pauses the whole generation queue (every worker) for `ms`: the upstream said 429. */
  rateLimitQueue: (ms: number) => Promise<void>;
  /** In-flight attempts by job id, so that a cancel signal can abort them. */
  inFlight: Map<string, AbortController>;
  /** Tells live listeners (SSE, `Prefer: wait`) that the job has new committed events. */
  notify: (jobId: string) => void;
  /**
   * Marks a job's admission started (its BullMQ job taken) in the next admission round (admitter.ts),
   * always before or with the round that frees its slot.
   */
  markStarted: (item: StartItem) => void;
  /**
   * Frees a job's slot (or hands it to its retry) and admits the next work into it, in one admission
   * round (admitter.ts). The job waits (at most {@link SLOT_HANDOFF_WAIT_MS}) for the promise, so that
   * BullMQ's completion of this job finds the work admitted into its slot. Resolves with whether the
   * slot was freed; rejects when it was not.
   */
  freeSlot: (item: ReleaseItem) => Promise<boolean>;
  /** Batches every attempt's progress and lease writes (one statement per tick for the process). */
  ticker: AttemptTicker;
  /** The process's keep-alive connection pool to the upstream. */
  upstream: Dispatcher;
  /** Pauses generation when the upstream's quota runs out; null when the guard is off. */
  quotaGuard: Pick<QuotaGuard, "onQuotaAnswer"> | null;
  /** Counters served on `/metrics`. */
  metrics: WorkerMetrics;
  /** The pool of result-image downloads, with the address guard (image-dispatcher.ts). */
  images: Dispatcher;
  /** The per-model circuit breaker (circuit-gate.ts): which models the claim skips, and each outcome. */
  circuit: CircuitGate;
}

/** The attempt given back when the upstream answers that its quota is used up (the guard is on). */
const QUOTA_PAUSE = {
  code: "upstream_quota",
  errorClass: "quota",
  message: "The upstream's quota is used up: generation is paused and the job waits for it to return.",
} as const;

/** Anything thrown by an attempt, as the facts the policy and the attempt row need. */
function toUpstreamError(error: unknown, signal: AbortSignal, deadlineAt: Date): UpstreamError {
  if (signal.aborted && Date.now() >= deadlineAt.getTime()) {
    return new UpstreamError({
      code: "deadline_exceeded",
      errorClass: "stalled",
      message: "The job's deadline passed during the upstream call.",
      retryable: false,
      fallback: false,
      cause: error,
    });
  }
  if (isUpstreamError(error)) return error;
  // Not classified: a bug, or a storage or database failure. Its text is for the logs and operators.
  return new UpstreamError({
    code: "internal",
    errorClass: "protocol_noise",
    message: "An internal error interrupted the attempt.",
    detail: error instanceof Error ? error.message : String(error),
    retryable: true,
    fallback: false,
    cause: error,
  });
}

/** A failed call's error, as its attempt records it. */
function attemptError(failure: UpstreamError): AttemptErrorInput {
  return {
    code: failure.code,
    message: failure.message,
    retryable: failure.retryable,
    errorClass: failure.errorClass,
    upstreamDetail: failure.detail ?? null,
  };
}

/** What a failed call showed about its stream, for diagnosis. */
function attemptDiagnosis(failure: UpstreamError, lastStage: string): AttemptDiagnosis {
  return {
    lastStage,
    progressStoodMs: failure.stall?.stoodMs ?? null,
    streamHead: failure.unrecognisedStreamHead ?? null,
  };
}

/**
 * How long a finished job waits for the admission round that frees its slot before it is handed
 * back to BullMQ. Admitted in time, the next work is already waiting when BullMQ completes this job,
 * and its completion script returns it as the worker's next job (one Redis script per job instead of
 * three: no blocking wait and no `moveToActive`). Past the wait the job is handed back anyway.
 */
export const SLOT_HANDOFF_WAIT_MS = 1_000;

/** Processes one BullMQ generation job: claim, one upstream attempt, then success, retry or failure. */
export function createGenerationProcessor(deps: GenerationDeps) {
  const { db, config } = deps;
  const { claims, completions } = createAttemptBatchers(deps);
  return async (bullJob: Job, token?: string): Promise<void> => {
    const { jobId, work } = parsePayload("generation", bullJob.data);
    const admission = work === undefined || bullJob.id === undefined ? null : { work, bullJobId: bullJob.id };
    // The start mark goes out with the next admission round, beside the claim: neither waits for the other.
    if (admission !== null) deps.markStarted(admission);
    // The slot ends with the run: freed, or handed to the retry (which waits for its time).
    let hold = false;
    let retryAt: Date | null = null;
    try {
      const retryLater =
        admission === null
          ? null
          : (at: Date) => {
              retryAt = at;
            };
      await run(bullJob, jobId, token, retryLater).catch((error: unknown) => {
        if (error instanceof DelayedError || error instanceof RateLimitError) hold = true;
        throw error;
      });
    } finally {
      // The slot is freed after its start mark, never before it: the admitter's rounds keep that order.
      if (admission !== null && !hold) {
        const freeing = deps.freeSlot({ ...admission, retryAt });
        freeing.catch((err: unknown) =>
          deps.logger.warn({ err, job_id: jobId }, "slot not freed (the reconciler's sweep frees it)"),
        );
        // Past the wait the job is handed back anyway.
        await withTimeout(freeing, SLOT_HANDOFF_WAIT_MS, "slot handoff").catch(() => undefined);
      }
    }
  };

  async function run(
    bullJob: Job,
    jobId: string,
    token: string | undefined,
    retryLater: ((at: Date) => void) | null,
  ): Promise<void> {
    const { claimed: claim, circuit } = await deps.circuit.claim<Claim>((circuitOpen) =>
      claims.submit({ jobId, circuitOpen }),
    );
    if (claim === null) {
      // A job that waited past its start-by is failed here rather than left to the sweep: it never
      // reaches the upstream.
      if (await failQueueTimeout(db, jobId)) {
        deps.notify(jobId);
        deps.logger.info({ job_id: jobId }, "job not started within its queue_timeout_seconds: failed queue_timeout");
        return;
      }
      // Nor one whose deadline passed while it waited (the reconciler re-enqueued it, say).
      if (await failQueuedPastDeadline(db, jobId)) {
        deps.notify(jobId);
        deps.logger.info({ job_id: jobId }, "job not started within its deadline_seconds: failed deadline_exceeded");
        return;
      }
      deps.logger.debug({ job_id: jobId }, "job not claimable (terminal, or owned by a live attempt)");
      return;
    }
    const { job, attempt, model } = claim;
    deps.notify(job.id);
    // Fields rather than a child logger: a child per in-flight job costs memory for every stream.
    const fields = { job_id: job.id, attempt, model };
    const log = deps.logger;
    if (claim.skipped === null) log.info(fields, "attempt started");
    else
      log.info(
        { ...fields, skipped: claim.skipped },
        `attempt started on the fallback: ${job.model}'s circuit is open`,
      );

    const controller = new AbortController();
    deps.inFlight.set(job.id, controller);
    const deadlineTimer = setTimeout(
      () => controller.abort(new Error("deadline")),
      Math.max(0, job.deadlineAt.getTime() - Date.now()),
    );
    // Progress and the lease go out with every other attempt's, once per tick (attempt-ticker.ts).
    const progress = deps.ticker.track(job.id, attempt, { stage: "starting", percent: 0 }, () =>
      controller.abort(new Error("lost ownership")),
    );
    // When each call's response began (by attempt number), and which of those an attempt's ending
    // statement wrote; the others are written when the run ends (recordTimesToFirstByte).
    const firstBytes = new Map<number, number>();
    const firstBytesWritten = new Set<number>();
    const firstByteFact = (call: number) => {
      const ms = firstBytes.get(call);
      return ms === undefined ? {} : { timeToFirstByteMs: ms };
    };
    // Images stored by each call (by attempt number), removed when that call's result is not kept.
    const stored = new Map<number, StoredImageInput[]>();
    const discardStored = async (only?: number) => {
      const images = [...stored].filter(([n]) => only === undefined || n === only).flatMap(([, list]) => list);
      await Promise.all(images.map((image) => deps.storage.delete(image.storageKey).catch(() => undefined)));
    };
    const callUpstream = (call: RaceCall, signal: AbortSignal, onProgress: (state: ProgressState) => void) =>
      runAttempt({
        job,
        model: call.model,
        config,
        signal,
        dispatcher: deps.upstream,
        imageDispatcher: deps.images,
        onProgress,
        onFirstByte: (ms) => firstBytes.set(call.attempt, ms),
        store: async (index, bytes, sourceUrl) => {
          const image = await storeImage(deps.storage, job.id, index, bytes, sourceUrl);
          const list = stored.get(call.attempt) ?? [];
          list.push(image);
          stored.set(call.attempt, list);
          return image;
        },
      });
    // The call whose outcome is handled below, and the job's attempt number every write is fenced
    // on: the claimed attempt, unless a hedged run's race started the fallback alongside it.
    const primary: RaceCall = { attempt, model };
    const run: { ended: RaceCall; alongside: RaceCall | null; hedge: RaceCall | null; fence: number } = {
      ended: primary,
      alongside: null,
      hedge: null,
      fence: attempt,
    };
    // Each call's outcome as its model's circuit counts it (null: says nothing about the model).
    const circuitOf = (call: RaceCall) => (call.attempt === attempt ? circuit : { model: call.model, probe: false });
    const endCircuit = async (call: RaceCall, outcome: { failed: boolean } | null) => {
      const gate = circuitOf(call);
      if (gate !== null) await deps.circuit.ended(gate, outcome);
    };
    const hedge = hedgePlan(job, model);

    try {
      let outcome: AttemptOutcome;
      let loser: RaceCall | null = null;
      if (hedge !== null) {
        // Hedged fallback (hedge.ts): the fallback starts alongside a primary that stands still.
        const { fallbackModel } = hedge;
        const race = await raceWithHedge<AttemptOutcome>({
          primary,
          fallbackModel,
          afterMs: hedge.afterMs,
          signal: controller.signal,
          call: (call, signal, progressed) =>
            callUpstream(call, signal, (state) => {
              if (call.attempt !== attempt) {
                // The fallback shows no progress of its own until its images are in.
                if (state.stage === "storing") progress.push(state, call.attempt);
                return;
              }
              const before = progress.latest;
              progress.push(state);
              if (progress.latest !== before) progressed();
            }),
          canHedge: async () => {
            if (await deps.circuit.isClosed(fallbackModel)) return true;
            log.info(
              { ...fields, hedge_model: fallbackModel },
              `no progress for ${job.hedgeAfterSeconds} s, but ${fallbackModel}'s circuit is not closed: no hedge now`,
            );
            return false;
          },
          startHedge: async () => {
            // The job's attempt number moves with this statement: a progress or lease write the
            // ticker has in flight may meet the new number, which says nothing about ownership.
            progress.beginRefence();
            let number: number | null = null;
            try {
              number = await startHedge(db, { jobId: job.id, attempt, model: fallbackModel });
            } finally {
              progress.refence(number);
            }
            if (number === null) return null;
            run.fence = number;
            run.hedge = { attempt: number, model: fallbackModel };
            job.attempts.push({ number, model: fallbackModel, errorClass: null });
            deps.notify(job.id);
            log.info(
              { ...fields, hedge_attempt: number, hedge_model: fallbackModel },
              `no progress for ${job.hedgeAfterSeconds} s: the fallback started alongside (hedged run)`,
            );
            return number;
          },
          failedAlone: async (call, error, stillRunning) => {
            const failure = toUpstreamError(error, controller.signal, job.deadlineAt);
            await endCircuit(call, circuitOutcome(failure));
            const record = job.attempts.find((a) => a.number === call.attempt);
            if (record !== undefined) record.errorClass = failure.errorClass;
            await discardStored(call.attempt);
            const owned = await failHedgedAttempt(db, {
              jobId: job.id,
              attempt: call.attempt,
              fence: run.fence,
              stillRunning: stillRunning.attempt,
              lastProgress: call.attempt === attempt ? progress.latest.percent : null,
              error: attemptError(failure),
              diagnosis: attemptDiagnosis(failure, progress.latest.stage),
              facts: {
                upstreamRequestId: failure.requestId ?? null,
                httpStatus: failure.httpStatus ?? null,
                ...firstByteFact(call.attempt),
              },
            });
            if (owned) {
              firstBytesWritten.add(call.attempt);
              deps.notify(job.id);
            }
            log.warn(
              { job_id: job.id, attempt: call.attempt, model: call.model, error_code: failure.code },
              "hedged call failed; the other call runs on",
            );
          },
        }).catch((error: unknown) => {
          if (!(error instanceof RaceFailed)) throw error;
          run.ended = error.call;
          run.alongside = error.alongside;
          throw error.error;
        });
        outcome = race.outcome;
        run.ended = race.winner;
        loser = race.loser;
        if (loser !== null) {
          const aborted = loser;
          // The aborted call says nothing about its model; what it stored is not kept.
          void race.loserSettled.then(() => discardStored(aborted.attempt));
          await endCircuit(aborted, null);
        }
      } else {
        outcome = await callUpstream(primary, controller.signal, (state) => progress.push(state));
      }
      // The result says more than any progress still waiting for its tick: it is dropped.
      progress.end();
      const { ended } = run;
      // The model's success is counted beside the completion, not before it.
      const counted = endCircuit(ended, { failed: false });
      const prices = config.env.MODEL_PRICES;
      const completing = completions.submit({
        jobId: job.id,
        attempt: ended.attempt,
        fence: run.fence,
        model: ended.model,
        images: outcome.images,
        usage: outcome.usage,
        // A hedged run's aborted call may be billed too: its price counts toward usage.
        costMicroUsd:
          imagesCostMicroUsd(prices, ended.model, outcome.images.length) +
          (loser === null ? 0 : imagesCostMicroUsd(prices, loser.model, job.n)),
        facts: {
          upstreamRequestId: outcome.upstreamRequestId,
          timeToFirstByteMs: outcome.timeToFirstByteMs,
          httpStatus: outcome.httpStatus,
        },
      });
      const [owned] = await Promise.all([completing, counted]);
      if (owned) firstBytesWritten.add(ended.attempt);
      deps.notify(job.id);
      if (!owned) {
        log.warn(fields, "attempt finished after losing the job; its result is discarded");
        await discardStored(ended.attempt);
        return;
      }
      log.info(
        { ...fields, attempt: ended.attempt, model: ended.model, images: outcome.images.length },
        loser === null ? "job succeeded" : "job succeeded: the other call of the hedged run was aborted",
      );
    } catch (error) {
      progress.end();
      const { ended, alongside, hedge, fence } = run;
      const lastProgress = progress.latest.percent;
      await discardStored();
      // A call aborted with the other by the run's own signal says nothing about its model; its
      // attempt ends below with the run (given back, or failed with the same error).
      if (alongside !== null) await endCircuit(alongside, null);
      // Gives the job back without counting the attempt (`interrupted`): the same BullMQ job is
      // moved back, so that another worker (or this one, restarted or resumed) takes it. Every
      // running attempt of the run ends (both calls of a hedged one).
      const giveBack = async (reason?: ReleaseReason): Promise<boolean> => {
        const owned = await releaseJob(db, job.id, fence, lastProgress, reason);
        if (owned) deps.notify(job.id);
        if (owned && token !== undefined) {
          await bullJob.moveToDelayed(Date.now(), token);
          throw new DelayedError();
        }
        return owned;
      };
      if (controller.signal.reason instanceof WorkerShutdown) {
        // Not the job's fault: it goes back to the queue at once.
        await endCircuit(ended, null);
        log.info(fields, "worker stopping: job returned to the queue");
        await giveBack();
        return;
      }
      const failure = toUpstreamError(error, controller.signal, job.deadlineAt);
      if (failure.errorClass === "quota" && deps.quotaGuard !== null) {
        // Not the job's fault either: generation pauses (every worker) and the job waits, its
        // attempt not counted, instead of every queued job failing on the same answer in turn.
        await endCircuit(ended, null);
        await deps.quotaGuard.onQuotaAnswer(failure.message);
        log.warn({ ...fields, error_code: failure.code }, "upstream quota used up: job returned to the paused queue");
        await giveBack(QUOTA_PAUSE);
        return;
      }
      await endCircuit(ended, circuitOutcome(failure));
      // A hedged run whose calls both failed is on its fallback: what comes next is decided as
      // after a failure of the hedge's attempt (the primary's already counted before it).
      const decision = decideRetry(
        job,
        hedge?.attempt ?? ended.attempt,
        hedge?.model ?? ended.model,
        failure,
        config.retry,
      );
      if (failure.unrecognisedStreamHead !== undefined) deps.metrics.unrecognisedStream(ended.model);
      const owned = await failAttempt(db, {
        jobId: job.id,
        attempt: ended.attempt,
        fence,
        lastProgress: ended.attempt === attempt ? lastProgress : null,
        error: attemptError(failure),
        diagnosis: attemptDiagnosis(failure, progress.latest.stage),
        facts: {
          upstreamRequestId: failure.requestId ?? null,
          httpStatus: failure.httpStatus ?? null,
          ...firstByteFact(ended.attempt),
        },
        retryAt: decision.retryAt,
        switchToFallback: decision.switchToFallback,
      });
      if (owned) {
        firstBytesWritten.add(ended.attempt);
        deps.notify(job.id);
      }
      log.warn(
        {
          ...fields,
          attempt: ended.attempt,
          model: ended.model,
          error_code: failure.code,
          error_class: failure.errorClass,
          retry_at: decision.retryAt,
          fallback_next: decision.switchToFallback,
          owned,
        },
        owned ? "attempt failed" : "attempt ended after the job moved on (canceled or taken over)",
      );
      if (failure.code === "internal") log.error({ ...fields, err: error }, "unexpected error in attempt");
      if (!owned || decision.retryAt === null || token === undefined) return;
      const delayMs = Math.max(0, decision.retryAt.getTime() - Date.now());
      if (failure.errorClass === "rate_limited" && !decision.switchToFallback) {
        // A 429 slows every call to the upstream, not just this job: pause the whole queue.
        await deps.rateLimitQueue(Math.max(1, delayMs));
        throw new RateLimitError();
      }
      if (retryLater !== null) {
        // The slot goes back; the retry waits for its time in the intake's retry wait, and is
        // then admitted by the same fair rule as any queued work.
        retryLater(decision.retryAt);
        return;
      }
      // A job enqueued before fair admission: same BullMQ job, delayed.
      await bullJob.moveToDelayed(Date.now() + delayMs, token);
      throw new DelayedError();
    } finally {
      deps.inFlight.delete(job.id);
      clearTimeout(deadlineTimer);
      progress.end();
      const unwritten = [...firstBytes]
        .filter(([call]) => !firstBytesWritten.has(call))
        .map(([call, ms]) => ({ attempt: call, ms }));
      await recordTimesToFirstByte(db, job.id, unwritten).catch((err: unknown) =>
        log.warn({ ...fields, err }, "time to first byte not recorded"),
      );
    }
  }
}
