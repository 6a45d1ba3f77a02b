import type { Redis } from "ioredis";
import {
  ENQUEUE,
  ENQUEUE_PLACED,
  HEARTBEAT,
  POSITIONS,
  READMIT,
  RELEASE,
  RELEASE_ADMIT,
  REMOVE,
  SNAPSHOT,
  STARTED,
} from "./fair-lua";
import { withTimeout } from "./generation-queue";

export type JobPriority = "high" | "normal" | "low";

const PRIORITY_RANK: Record<JobPriority, number> = { high: 0, normal: 1, low: 2 };

/** Intake order within a tenant: priority first, then age. */
export function intakeScore(priority: JobPriority, createdAt: Date): number {
  return PRIORITY_RANK[priority] * 1e14 + createdAt.getTime();
}

/**
 * The unit of admission: the job id for a job's first run, `<job id>-r<n>` after its n-th user
 * retry (so that the previous run's BullMQ job, maybe still finishing, never collides with it).
 */
export function workIdOf(jobId: string, attemptBase: number): string {
  return attemptBase > 0 ? `${jobId}-r${attemptBase}` : jobId;
}

export interface TenantShare {
  weight: number;
  maxConcurrency: number | null;
}

export interface IntakeEntry {
  work: string;
  tenantId: string;
  priority: JobPriority;
  createdAt: Date;
  share: TenantShare;
  /** A retry's time: the work waits until then before it can be admitted. */
  notBefore?: Date | null;
}

export interface Admission {
  work: string;
  jobId: string;
  bullJobId: string;
}

export type QueueState = "unknown" | "queued" | "admitted" | "started" | "retry_wait";
const STATES: QueueState[] = ["unknown", "queued", "admitted", "started", "retry_wait"];

export interface QueuePlace {
  state: QueueState;
  /** 1 = the next of its tenant to start; null unless queued or admitted. */
  position: number | null;
  /** The tenant's admitted (running or about to run) work. */
  tenantRunning: number;
}

/** An admission whose run ended: its slot is freed, or with `retryAt` held for the retry's wait. */
export interface ReleaseItem extends StartItem {
  retryAt?: Date | null;
}

export interface AdmittedEntry {
  work: string;
  jobId: string;
  tenantId: string;
  admittedAt: Date;
  started: boolean;
  bullJobId: string;
}

export interface IntakeSnapshot {
  /** The sum of the live workers' concurrency. */
  capacity: number;
  /** Work in the generation queue (started or about to). */
  admitted: number;
  /** Work in the tenants' intakes. */
  queued: number;
  /** Work waiting for a retry's time. */
  retryWait: number;
  /** Admitted work per tenant id. */
  running: Record<string, number>;
}

/** The job id inside a work id. */
export function jobIdOfWork(work: string): string {
  return work.replace(/-r\d+$/, "");
}

/** What an admission round chose, and when the next retry is due (ms), if any. */
export interface AdmitRound {
  admitted: Admission[];
  nextDueAt: number | null;
}

/** An admission whose BullMQ job a worker took: its start is marked. */
export interface StartItem {
  work: string;
  bullJobId: string;
}

/** The STARTED script's arguments for these admissions. */
function startArgs(items: readonly StartItem[]): string[] {
  return items.flatMap((i) => [i.work, i.bullJobId]);
}

/** The RELEASE script's arguments for these admissions. */
function releaseArgs(items: readonly ReleaseItem[]): (string | number)[] {
  return items.flatMap((i) => [i.work, i.bullJobId, i.retryAt?.getTime() ?? 0]);
}

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

const SCRIPTS = {
  darkroomFairEnqueue: ENQUEUE,
  darkroomFairEnqueuePlaced: ENQUEUE_PLACED,
  darkroomFairStarted: STARTED,
  darkroomFairRelease: RELEASE,
  darkroomFairReleaseAdmit: RELEASE_ADMIT,
  darkroomFairRemove: REMOVE,
  darkroomFairReadmit: READMIT,
  darkroomFairHeartbeat: HEARTBEAT,
  darkroomFairPositions: POSITIONS,
  darkroomFairSnapshot: SNAPSHOT,
} as const;

/** Calls into Redis never hang the caller: they fail after this long (Redis unreachable). */
const CALL_TIMEOUT_MS = 2_000;

/** The channel on which an enqueue wakes the workers' admission when a slot is free. */
export function intakeChannel(prefix: string): string {
  return `${prefix}:signals:intake`;
}

/**
 * Fair admission (design: tenants' intakes in Redis, admitted into the BullMQ generation queue as
 * slots free). Postgres stays the record: everything here can be rebuilt from it by the reconciler.
 */
export class FairIntake {
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    this.key = `${prefix}:fair`;
    for (const [name, lua] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 0, lua });
    }
  }

  private call(name: keyof typeof SCRIPTS, ...args: (string | number)[]): Promise<unknown> {
    const fn = (this.redis as unknown as Record<string, ScriptFn>)[name] as ScriptFn;
    return withTimeout(fn.call(this.redis, this.key, ...args), CALL_TIMEOUT_MS, "fair intake");
  }

  /** Adds work to its tenant's intake (or to the retry wait); false when it is already there or admitted. */
  async enqueue(entry: IntakeEntry): Promise<boolean> {
    const result = await this.call("darkroomFairEnqueue", ...this.enqueueArgs(entry));
    return result === 1;
  }

  /** `enqueue`, and where the work stands afterwards (as `places` tells), in one round trip. */
  async enqueuePlaced(entry: IntakeEntry): Promise<QueuePlace> {
    const out = (await this.call("darkroomFairEnqueuePlaced", ...this.enqueueArgs(entry))) as number[];
    const position = out[2] ?? 0;
    return {
      state: STATES[out[1] ?? 0] ?? "unknown",
      position: position > 0 ? position : null,
      tenantRunning: out[3] ?? 0,
    };
  }

  private enqueueArgs(entry: IntakeEntry): (string | number)[] {
    const due = entry.notBefore != null && entry.notBefore.getTime() > Date.now() ? entry.notBefore.getTime() : 0;
    return [
      entry.work,
      entry.tenantId,
      intakeScore(entry.priority, entry.createdAt),
      entry.share.weight,
      entry.share.maxConcurrency ?? -1,
      intakeChannel(this.prefix),
      due,
    ];
  }

  /** Stores a tenant's share as changed by an admin (enqueues only fill it in when missing). */
  async setShare(tenantId: string, share: TenantShare): Promise<void> {
    await withTimeout(
      this.redis.hset(`${this.key}:conf`, tenantId, `${share.weight} ${share.maxConcurrency ?? -1}`),
      CALL_TIMEOUT_MS,
      "fair intake",
    );
  }

  /** Admits up to `batch` work items by the fair rule; also returns when the next retry is due. */
  async admit(batch: number): Promise<AdmitRound> {
    const { admitted, nextDueAt } = await this.releaseAndAdmit({ batch });
    return { admitted, nextDueAt };
  }

  /**
   * {@link startedMany} for `starts`, {@link releaseMany} for `releases`, then {@link admit} (at
   * most `batch`) into the freed slots, in one call and in that order: per start whether it was
   * marked, per release whether its slot was freed, and the round's admissions. With nothing to
   * mark or free, an admission round alone.
   */
  async releaseAndAdmit({
    starts = [],
    releases = [],
    batch,
  }: {
    starts?: readonly StartItem[];
    releases?: readonly ReleaseItem[];
    batch: number;
  }): Promise<AdmitRound & { freed: boolean[]; started: boolean[] }> {
    const out = (await this.call(
      "darkroomFairReleaseAdmit",
      batch,
      starts.length,
      ...startArgs(starts),
      ...releaseArgs(releases),
    )) as (number | string)[];
    const s = Number(out[0]);
    const n = Number(out[s + 1]);
    const admitted: Admission[] = [];
    const from = s + n + 2;
    for (let i = from + 1; i + 1 < out.length; i += 2) {
      const work = String(out[i]);
      admitted.push({ work, jobId: jobIdOfWork(work), bullJobId: String(out[i + 1]) });
    }
    const due = out[from];
    return {
      started: starts.map((_, i) => out[1 + i] === 1),
      freed: releases.map((_, i) => out[s + 2 + i] === 1),
      admitted,
      nextDueAt: due === "" || due === undefined ? null : Number(due),
    };
  }

  /** The worker took the admission's BullMQ job. */
  async started(work: string, bullJobId: string): Promise<void> {
    await this.startedMany([{ work, bullJobId }]);
  }

  /** The worker took these admissions' BullMQ jobs (one call); per admission, whether it was marked. */
  async startedMany(items: readonly StartItem[]): Promise<boolean[]> {
    if (items.length === 0) return [];
    const out = (await this.call("darkroomFairStarted", ...startArgs(items))) as number[];
    return items.map((_, i) => out[i] === 1);
  }

  /** Frees the admission's slot; with `retryAt` the work waits for it and is then queued again. */
  async release(work: string, bullJobId: string, retryAt: Date | null = null): Promise<boolean> {
    const [freed] = await this.releaseMany([{ work, bullJobId, retryAt }]);
    return freed === true;
  }

  /** {@link release} for many admissions in one call; per admission, whether its slot was freed. */
  async releaseMany(items: readonly ReleaseItem[]): Promise<boolean[]> {
    if (items.length === 0) return [];
    const out = (await this.call("darkroomFairRelease", ...releaseArgs(items))) as number[];
    return items.map((_, i) => out[i] === 1);
  }

  /** Takes queued work out of its intake (a cancel); false when it is admitted or not there. */
  async remove(work: string): Promise<boolean> {
    return (await this.call("darkroomFairRemove", work)) === 1;
  }

  /** A new BullMQ id for an admission whose BullMQ job is gone; null when the work moved on. */
  async readmit(work: string, bullJobId: string): Promise<string | null> {
    const fresh = await this.call("darkroomFairReadmit", work, bullJobId);
    return typeof fresh === "string" ? fresh : null;
  }

  /** Registers (or with 0, removes) a worker's slots; returns the live capacity. */
  async heartbeat(workerId: string, concurrency: number, ttlMs: number): Promise<number> {
    return Number(await this.call("darkroomFairHeartbeat", workerId, concurrency, ttlMs));
  }

  /** Where each work item stands in the intake. */
  async places(works: string[]): Promise<QueuePlace[]> {
    if (works.length === 0) return [];
    const out = (await this.call("darkroomFairPositions", ...works)) as number[];
    const places: QueuePlace[] = [];
    for (let i = 0; i < works.length; i++) {
      const state = STATES[out[i * 3] ?? 0] ?? "unknown";
      const position = out[i * 3 + 1] ?? 0;
      places.push({ state, position: position > 0 ? position : null, tenantRunning: out[i * 3 + 2] ?? 0 });
    }
    return places;
  }

  /** Every admission, for the reconciler's sweep (bounded by the capacity). */
  async admittedEntries(): Promise<AdmittedEntry[]> {
    const all = await withTimeout(this.redis.hgetall(`${this.key}:admitted`), CALL_TIMEOUT_MS, "fair intake");
    return Object.entries(all).flatMap(([work, value]) => {
      const [tenantId, at, state, bullJobId] = value.split(" ");
      if (tenantId === undefined || bullJobId === undefined) return [];
      return [
        {
          work,
          jobId: jobIdOfWork(work),
          tenantId,
          admittedAt: new Date(Number(at)),
          started: state === "s",
          bullJobId,
        },
      ];
    });
  }

  /** The live capacity, admitted, queued and retry-waiting work, and admitted work per tenant. */
  async snapshot(): Promise<IntakeSnapshot> {
    const out = (await this.call("darkroomFairSnapshot")) as (number | string)[];
    const running: Record<string, number> = {};
    for (let i = 4; i + 1 < out.length; i += 2) running[String(out[i])] = Number(out[i + 1]);
    return {
      capacity: Number(out[0]),
      admitted: Number(out[1]),
      queued: Number(out[2]),
      retryWait: Number(out[3]),
      running,
    };
  }
}
