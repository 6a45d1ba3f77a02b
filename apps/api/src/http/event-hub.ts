import {
  type DbClient,
  type EventView,
  isTerminalEvent,
  type JobEventRecord,
  lastEventSeq,
  listEvents,
} from "@darkroom/db";
import { PROGRESS_STAGES } from "@darkroom/domain";
import type { Logger } from "@darkroom/logger";
import { type JobEventSignals, type LiveProgress, parseLiveProgress } from "@darkroom/queue";

/** Why Postgres was read for listeners (the `read` label of `darkroom_event_reads_total`). */
export type EventRead = "open" | "signal" | "poll" | "replay" | "wait";

/** Events are read in pages of this many. */
export const EVENT_PAGE = 500;

/** An event as every listener of a feed gets it: rendered and serialised once per feed. */
export interface FeedEvent {
  seq: bigint;
  view: EventView;
  /** The whole SSE frame (`id:`, `event:`, `data:`). */
  frame: string;
}

export function toFeedEvents(views: EventView[]): FeedEvent[] {
  return views.map((view) => ({
    seq: BigInt(view.seq),
    view,
    frame: `id: ${view.seq}\nevent: ${view.type}\ndata: ${JSON.stringify(view)}\n\n`,
  }));
}

/** Where an attempt's progress stands: later attempts, later stages, then higher percents are ahead. */
export interface ProgressMark {
  attempt: number;
  stage: string;
  percent: number;
}

/** True when `a` is strictly ahead of `b` (anything is ahead of nothing). */
export function isAhead(a: ProgressMark, b: ProgressMark | null): boolean {
  if (b === null) return true;
  if (a.attempt !== b.attempt) return a.attempt > b.attempt;
  const stages: readonly string[] = PROGRESS_STAGES;
  const sa = stages.indexOf(a.stage);
  const sb = stages.indexOf(b.stage);
  return sa !== sb ? sa > sb : a.percent > b.percent;
}

/** The progress a durable `job.progress` event records, or null for any other event. */
export function progressOf(event: FeedEvent): ProgressMark | null {
  if (event.view.type !== "job.progress") return null;
  const data = event.view.data as Partial<ProgressMark> | null;
  if (typeof data?.attempt !== "number" || typeof data.percent !== "number" || typeof data.stage !== "string") {
    return null;
  }
  return { attempt: data.attempt, stage: data.stage, percent: data.percent };
}

/**
 * A progress the worker published before committing it, as the feed hands it out: a `job.progress`
 * SSE frame without `id:` (it has no seq yet), serialised once per feed. Its `data` is shaped like
 * the durable event's, with `id` and `seq` null and `live: true`.
 */
export interface LiveFeedProgress extends ProgressMark {
  frame: string;
}

function toLiveFeedProgress(live: LiveProgress): LiveFeedProgress {
  const data = { attempt: live.attempt, percent: live.percent, stage: live.stage };
  const view = {
    id: null,
    object: "event",
    seq: null,
    type: "job.progress",
    job_id: live.job_id,
    created_at: live.at,
    data,
    live: true,
  };
  return { ...data, frame: `event: job.progress\ndata: ${JSON.stringify(view)}\n\n` };
}

export interface FeedListener {
  /** New events of the job, in seq order, each handed out once by the feed. */
  events(events: FeedEvent[]): void;
  /** A progress the worker has not committed yet (may be lost, repeated or out of date). */
  live?(progress: LiveFeedProgress): void;
}

export interface FeedMembership {
  /** Settles once the feed listens to the job's Redis channel and knows its position. */
  ready: Promise<void>;
  /** The highest seq the feed has read: every event after it reaches the listener. */
  position(): bigint;
  /** Leaves the feed; the last listener to leave stops it at once. */
  leave(): void;
}

export interface EventHubDeps {
  db: DbClient;
  signals: JobEventSignals;
  /** How often a feed reads Postgres in case a Redis signal was lost. */
  pollMs: number;
  /** Terminal events carry the job as it is now (one job read per batch that holds one). */
  render(tenantId: string, events: JobEventRecord[]): Promise<EventView[]>;
  logger: Logger;
  /** Counts one Postgres read made for listeners. */
  onRead(read: EventRead): void;
  /** The number of open feeds changed. */
  onFeeds(open: number): void;
}

/**
 * One reader per job per API process: a feed listens to the job's Redis signal, polls as a
 * fallback, reads what is new from Postgres once and hands it to every listener of the job (event
 * streams, `Prefer: wait`). It exists while the job has a listener, and stops the moment the last
 * one leaves: no more reads, the Redis channel unsubscribed.
 */
export class EventHub {
  private readonly feeds = new Map<string, JobFeed>();

  constructor(private readonly deps: EventHubDeps) {}

  /**
   * Joins the job's feed, opening one (at `start`, or after the job's latest event) when there is
   * none. The listener gets every event the feed reads from now on; what lies between its own
   * position and `position()` is for it to read itself (see `replayInto`).
   */
  join(jobId: string, tenantId: string, listener: FeedListener, start?: bigint): FeedMembership {
    let feed = this.feeds.get(jobId);
    if (feed === undefined) {
      feed = new JobFeed(this.deps, jobId, tenantId, start ?? null, () => {
        this.feeds.delete(jobId);
        this.deps.onFeeds(this.feeds.size);
      });
      this.feeds.set(jobId, feed);
      this.deps.onFeeds(this.feeds.size);
    }
    const joined = feed;
    joined.listeners.add(listener);
    return {
      ready: joined.ready,
      position: () => joined.position ?? 0n,
      leave: () => joined.leave(listener),
    };
  }

  get size(): number {
    return this.feeds.size;
  }

  close(): void {
    for (const feed of [...this.feeds.values()]) feed.close();
  }
}

class JobFeed {
  readonly listeners = new Set<FeedListener>();
  /** Null until the open read found the job's latest event. */
  position: bigint | null;
  readonly ready: Promise<void>;
  private closed = false;
  /** The read under way; it settles once it has handed out its events. */
  private reading: Promise<void> | null = null;
  /** Wake-ups during a read: the one read that follows it (under the first one's cause), settled as it. */
  private queued: Promise<void> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private unlisten: () => void = () => undefined;

  constructor(
    private readonly deps: EventHubDeps,
    private readonly jobId: string,
    private readonly tenantId: string,
    start: bigint | null,
    private readonly onClosed: () => void,
  ) {
    this.position = start;
    this.ready = this.open();
  }

  private async open(): Promise<void> {
    const unlisten = await this.deps.signals.listen(this.jobId, (message) => {
      const live = parseLiveProgress(message);
      if (live === null) void this.kick("signal");
      else this.handOutLive(live);
    });
    if (this.closed) {
      unlisten(); // everyone left while Redis confirmed
      return;
    }
    this.unlisten = unlisten;
    if (this.position === null) {
      this.deps.onRead("open");
      // Without it the whole log is read once: slower, never wrong.
      this.position = await lastEventSeq(this.deps.db, this.jobId).catch(() => 0n);
      if (this.closed) return;
    }
    this.timer = setInterval(() => void this.kick("poll"), this.deps.pollMs);
    // Ready once a read begun now has handed out what was there (a signal's read may already be
    // under way: then its follow-up): a listener's catch-up then covers it, and no live progress
    // reaches a stream ahead of the events committed before it.
    await this.kick("open");
  }

  private handOutLive(live: LiveProgress): void {
    if (this.closed || this.listeners.size === 0) return;
    const progress = toLiveFeedProgress(live);
    for (const listener of [...this.listeners]) listener.live?.(progress);
  }

  /**
   * Reads after the position, one read at a time; a wake-up during a read triggers one more (a read
   * under way may have begun before what woke it was committed). Settles once a read begun after
   * the call has handed out its events: the one it started, or the follow-up of the read under way.
   */
  private kick(read: EventRead): Promise<void> {
    if (this.closed || this.position === null) return Promise.resolve();
    const current = this.reading;
    if (current === null) {
      const reading = this.pump(read)
        .catch((error: unknown) => {
          this.deps.logger.warn(
            { err: error, job_id: this.jobId },
            "event feed read failed (retried at the next poll)",
          );
        })
        .finally(() => {
          this.reading = null;
        });
      this.reading = reading;
      return reading;
    }
    if (this.queued === null) {
      this.queued = current.then(() => {
        this.queued = null;
        return this.kick(read);
      });
    }
    return this.queued;
  }

  private async pump(read: EventRead): Promise<void> {
    for (;;) {
      const after = this.position ?? 0n;
      this.deps.onRead(read);
      const records = await listEvents(this.deps.db, this.jobId, after, EVENT_PAGE);
      if (this.closed || records.length === 0) return;
      const events = toFeedEvents(await this.deps.render(this.tenantId, records));
      if (this.closed) return;
      // The position moves in the same turn as the hand-out: a listener joining later either got
      // an event here or finds it at or below `position` (and reads it itself).
      this.position = events.at(-1)?.seq ?? after;
      for (const listener of [...this.listeners]) listener.events(events);
      if (records.length < EVENT_PAGE) return;
    }
  }

  leave(listener: FeedListener): void {
    this.listeners.delete(listener);
    if (this.listeners.size === 0) this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.unlisten();
    this.listeners.clear();
    this.onClosed();
  }
}

/** Whether any of these events ends the job. */
export function endsJob(events: FeedEvent[]): boolean {
  return events.some((e) => isTerminalEvent(e.view.type));
}
