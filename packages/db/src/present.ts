import {
  type AttemptStatus,
  countsAgainstMaxAttempts,
  type ImageQuality,
  type ImageSize,
  isJobErrorCode,
  isTerminal,
  type JobView,
  type Model,
  type OperatorAttemptView,
  type ProgressStage,
  type WebhookEventType,
} from "@darkroom/domain";
import type { JobRecord } from "./jobs";

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

/** Where a job stands right now, from the intakes in Redis (null where unknown, as in webhooks). */
export interface LiveProgress {
  queuePosition: number | null;
  etaSeconds: number | null;
}

/** Renders a stored job as the public job object. `imageUrl` signs the URL of one stored image. */
export function presentJob(
  job: JobRecord,
  imageUrl: (jobId: string, index: number) => string,
  live: LiveProgress | null = null,
): JobView {
  return {
    id: job.id,
    object: "job",
    status: job.status,
    model: job.model as Model,
    fallback_model: job.fallbackModel === null ? null : "gpt-image-1",
    prompt: job.prompt,
    n: job.n,
    size: job.size as ImageSize,
    quality: job.quality as ImageQuality,
    max_attempts: job.maxAttempts,
    deadline_at: job.deadlineAt.toISOString(),
    queue_timeout_seconds: job.queueTimeoutSeconds,
    queue_expires_at: iso(job.queueExpiresAt),
    hedge_after_seconds: job.hedgeAfterSeconds,
    priority: job.priority,
    progress: {
      percent: job.progressPercent,
      stage: job.progressStage as ProgressStage,
      queue_position: job.status === "queued" ? (live?.queuePosition ?? null) : null,
      eta_seconds: isTerminal(job.status) ? null : (live?.etaSeconds ?? null),
    },
    attempts: job.attempts.map((a) => ({
      number: a.number,
      model: a.model,
      status: a.status as AttemptStatus,
      error:
        a.errorCode !== null && isJobErrorCode(a.errorCode)
          ? {
              code: a.errorCode,
              message: a.errorMessage ?? "",
              retryable: a.retryable ?? false,
              class: a.errorClass,
              http_status: a.httpStatus,
            }
          : null,
      upstream_request_id: a.upstreamRequestId,
      time_to_first_byte_ms: a.timeToFirstByteMs,
      last_progress: a.lastProgress,
      last_stage: a.lastStage,
      progress_stood_ms: a.progressStoodMs,
      skipped: a.skipped === "circuit_open" ? "circuit_open" : null,
      hedge: a.hedge,
      counted: countsAgainstMaxAttempts(a.errorClass),
      started_at: a.startedAt.toISOString(),
      finished_at: iso(a.finishedAt),
    })),
    attempts_used: job.attempts.filter((a) => a.number > job.attemptBase && countsAgainstMaxAttempts(a.errorClass))
      .length,
    fallback_used: job.fallbackUsed,
    result:
      job.status === "succeeded"
        ? {
            model: job.resultModel ?? job.model,
            images: job.images.map((img) => ({
              index: img.index,
              url: imageUrl(job.id, img.index),
              content_type: img.contentType,
              bytes: img.bytes,
              sha256: img.sha256,
              width: img.width,
              height: img.height,
            })),
            usage: job.usage ?? null,
            cost_usd: job.costUsd === null ? null : job.costUsd.toNumber(),
          }
        : null,
    error:
      job.status === "failed" && job.errorCode !== null && isJobErrorCode(job.errorCode)
        ? { code: job.errorCode, message: job.errorMessage ?? "", retryable: job.errorRetryable ?? false }
        : null,
    metadata: (job.metadata ?? {}) as Record<string, unknown>,
    webhook_url: job.webhookUrl,
    webhook_events: job.webhookEvents as WebhookEventType[],
    created_at: job.createdAt.toISOString(),
    started_at: iso(job.startedAt),
    finished_at: iso(job.finishedAt),
    updated_at: job.updatedAt.toISOString(),
    next_attempt_at: iso(job.nextAttemptAt),
  };
}

/**
 * The job as operators see it (admin API, dashboard): the public job object, with the upstream's own
 * words on each attempt, which the public object, events and webhooks never carry.
 */
export function presentJobForOperator(
  job: JobRecord,
  imageUrl: (jobId: string, index: number) => string,
  live: LiveProgress | null = null,
): Omit<JobView, "attempts"> & { attempts: OperatorAttemptView[] } {
  const view = presentJob(job, imageUrl, live);
  return {
    ...view,
    attempts: view.attempts.map((attempt, i) => ({
      ...attempt,
      upstream_detail: job.attempts[i]?.upstreamDetail ?? null,
      stream_head: job.attempts[i]?.streamHead ?? null,
    })),
  };
}
