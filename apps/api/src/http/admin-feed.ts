import { type AdminJobRecord, findAnyJobs, latestEventSeq, listEventsAfter, type PrismaClient } from "@darkroom/db";

/** How often the feed reads new events while anyone follows it. */
export const FEED_POLL_MS = 250;
/** Events read per statement; a poll reads page after page until it is caught up. */
const PAGE = 1000;
/**
 * How long a seq below the high-water mark is awaited. A seq is taken when an event is inserted and
 * becomes visible at its commit, so a slow transaction's event shows up after later ones (a gap);
 * a rolled-back insert leaves a gap that never fills. Darkroom's transactions time out after 30 s.
 */
export const GAP_WAIT_MS = 60_000;
/** At most this many open gaps are kept (the oldest go first): a bound on each poll's statement. */
const MAX_GAPS = 10_000;
/** A reconnect further behind than this starts afresh (`reset`) instead of replaying the backlog. */
export const MAX_REPLAY = 10_000;

/** One event as the feed sends it: its seq and its SSE text. */
export interface FeedItem {
  seq: bigint;
  text: string;
}

type EventRow = Awaited<ReturnType<typeof listEventsAfter>>[number];
type Listener = (items: FeedItem[]) => void;

/**
 * The dashboard's live feed: one reader per API process, whatever the number of open tabs. Every
 * `FEED_POLL_MS` it reads the events committed since its last read, and those of the gaps it is
 * still waiting for, so an event committed late (its seq is lower than ones already sent) is sent
 * when it commits: nothing is skipped, nothing is sent twice, under any event rate. Each event
 * that changes a job (anything but progress) carries the job's row as the jobs list shows it, so a
 * tab updates its table from the feed without reading the job again.
 */
export class AdminFeed {
  private last: bigint | null = null;
  private starting: Promise<bigint> | null = null;
  private readonly gaps = new Map<bigint, number>();
  private readonly listeners = new Set<Listener>();
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  /** Counts fresh starts: a poll begun before one gives up when it reads on (it saw the old feed). */
  private generation = 0;

  constructor(
    private readonly db: PrismaClient,
    private readonly present: (job: AdminJobRecord) => object,
    private readonly onError: (error: unknown) => void,
  ) {}

  /**
   * Follows the feed: `listener` gets every event committed from now on (late ones included).
   * Resolves with the high-water mark at subscription (the seq the follower is caught up to).
   */
  async subscribe(listener: Listener): Promise<{ position: bigint; unsubscribe: () => void }> {
    if (this.listeners.size === 0 && this.timer === null) {
      // Nobody followed the feed meanwhile, so it read nothing: it starts again from the newest event.
      // Resuming from where it stopped would send every event since then (any number) to the new tab.
      this.last = null;
      this.starting = null;
      this.gaps.clear();
      this.generation += 1;
    }
    const position = await this.start();
    this.listeners.add(listener);
    this.timer ??= setInterval(() => void this.poll(), FEED_POLL_MS);
    return {
      position,
      unsubscribe: () => {
        this.listeners.delete(listener);
        if (this.listeners.size === 0 && this.timer !== null) {
          clearInterval(this.timer);
          this.timer = null;
        }
      },
    };
  }

  /** Events after `afterSeq` up to `upTo` (a reconnect's replay), oldest first, at most MAX_REPLAY + 1. */
  async replay(afterSeq: bigint, upTo: bigint): Promise<FeedItem[]> {
    const items: FeedItem[] = [];
    let from = afterSeq;
    while (from < upTo && items.length <= MAX_REPLAY) {
      const rows = (await listEventsAfter(this.db, from, PAGE)).filter((e) => e.seq <= upTo);
      if (rows.length === 0) break;
      items.push(...(await this.format(rows)));
      from = rows.at(-1)?.seq ?? upTo;
    }
    return items;
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.listeners.clear();
  }

  private start(): Promise<bigint> {
    if (this.last !== null) return Promise.resolve(this.last);
    this.starting ??= latestEventSeq(this.db).then(
      (seq) => {
        this.last ??= seq;
        return this.last;
      },
      (error: unknown) => {
        this.starting = null;
        throw error;
      },
    );
    return this.starting;
  }

  private async poll(): Promise<void> {
    if (this.busy || this.last === null) return;
    this.busy = true;
    const generation = this.generation;
    try {
      for (;;) {
        const rows = await listEventsAfter(this.db, this.last, PAGE, [...this.gaps.keys()]);
        if (generation !== this.generation) return;
        const fresh = rows.filter((e) => this.take(e.seq));
        if (fresh.length > 0) this.broadcast(await this.format(fresh));
        if (rows.length < PAGE) break;
      }
      const expired = Date.now() - GAP_WAIT_MS;
      for (const [seq, since] of this.gaps) if (since < expired) this.gaps.delete(seq);
    } catch (error) {
      this.onError(error);
    } finally {
      this.busy = false;
    }
  }

  /** Whether `seq` is new (above the high-water mark, or a gap it was waiting for); records gaps. */
  private take(seq: bigint): boolean {
    if (this.gaps.delete(seq)) return true;
    const last = this.last ?? 0n;
    if (seq <= last) return false;
    const now = Date.now();
    for (
      let missing = seq - 1n > last + BigInt(MAX_GAPS) ? seq - BigInt(MAX_GAPS) : last + 1n;
      missing < seq;
      missing++
    ) {
      this.gaps.set(missing, now);
    }
    while (this.gaps.size > MAX_GAPS) {
      const oldest = this.gaps.keys().next().value;
      if (oldest === undefined) break;
      this.gaps.delete(oldest);
    }
    this.last = seq;
    return true;
  }

  private broadcast(items: FeedItem[]): void {
    for (const listener of this.listeners) listener(items);
  }

  /** The SSE text of each event; status events carry their job's row (one read for the batch). */
  private async format(rows: EventRow[]): Promise<FeedItem[]> {
    const ids = [...new Set(rows.filter((e) => e.type !== "job.progress").map((e) => e.jobId))];
    const jobs = new Map((await findAnyJobs(this.db, ids)).map((job) => [job.id, this.present(job)]));
    return rows.map((e) => {
      const data = {
        seq: Number(e.seq),
        type: e.type,
        job_id: e.jobId,
        tenant_id: e.tenantId,
        data: e.data,
        created_at: e.createdAt.toISOString(),
        ...(e.type === "job.progress" ? {} : { job: jobs.get(e.jobId) ?? null }),
      };
      return { seq: e.seq, text: `event: ${e.type}\ndata: ${JSON.stringify(data)}\n\n` };
    });
  }
}
