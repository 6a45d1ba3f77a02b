import { EVENT_LOOP_SAMPLE_MS } from "@darkroom/config";
import type { PrismaClient } from "@darkroom/db";
import { JOB_STATUSES } from "@darkroom/domain";
import { type FairIntake, type GenerationQueue, type UpstreamQuotaState, withTimeout } from "@darkroom/queue";
import type { RequestHandler } from "express";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { clusterMetrics, isApiClusterProcess } from "../cluster";

/** The API's Prometheus metrics: its own HTTP traffic, plus gauges read from Postgres and BullMQ at scrape time. */
export class ApiMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<"method" | "route" | "status">;
  private readonly duration: Histogram<"method" | "route">;
  readonly jobsCreated: Counter;
  /** Postgres reads made for event listeners, by cause (see event-hub.ts). */
  readonly eventReads: Counter<"read">;
  /** Jobs with an open feed in this process. */
  readonly eventFeeds: Gauge;
  /**
   * The text of a scrape: this process's metrics, or with API_PROCESSES > 1 those of every API
   * process (counters, histograms and per-process gauges summed; shared state read once).
   */
  readonly render: () => Promise<string>;

  constructor(
    db: PrismaClient,
    queue: GenerationQueue,
    intake: FairIntake,
    upstreamQuota: () => Promise<UpstreamQuotaState | null>,
  ) {
    this.render = isApiClusterProcess() ? clusterMetrics(this.registry) : () => this.registry.metrics();
    collectDefaultMetrics({
      register: this.registry,
      prefix: "darkroom_api_",
      eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS,
    });
    this.requests = new Counter({
      name: "darkroom_http_requests_total",
      help: "HTTP requests answered, by route and status",
      labelNames: ["method", "route", "status"],
      registers: [this.registry],
    });
    this.duration = new Histogram({
      name: "darkroom_http_request_duration_seconds",
      help: "HTTP request duration (event streams and Prefer: wait included)",
      labelNames: ["method", "route"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [this.registry],
    });
    this.jobsCreated = new Counter({
      name: "darkroom_jobs_created_total",
      help: "Jobs created through this API process",
      registers: [this.registry],
    });
    this.eventReads = new Counter({
      name: "darkroom_event_reads_total",
      help: "Postgres reads for event streams and Prefer: wait, by cause: open (a feed starts), signal (a Redis wake-up), poll (the fallback poll), replay (a stream reads its own gap), wait (a Prefer: wait reads its job)",
      labelNames: ["read"],
      registers: [this.registry],
    });
    for (const read of ["open", "signal", "poll", "replay", "wait"]) this.eventReads.inc({ read }, 0);
    this.eventFeeds = new Gauge({
      name: "darkroom_event_feeds",
      help: "Jobs whose events this API process follows (one Postgres reader each, whatever the number of listeners)",
      registers: [this.registry],
    });
    new Gauge({
      name: "darkroom_jobs",
      help: "Jobs in Postgres, by status",
      labelNames: ["status"],
      registers: [this.registry],
      aggregator: "first", // the same shared state in every API process
      async collect() {
        // A scrape during an outage still answers: the gauge is left out, /readyz tells why.
        const rows = await db.job.groupBy({ by: ["status"], _count: { _all: true } }).catch(() => null);
        if (rows === null) return;
        for (const status of JOB_STATUSES) {
          this.set({ status }, rows.find((r) => r.status === status)?._count._all ?? 0);
        }
      },
    });
    new Gauge({
      name: "darkroom_queue_jobs",
      help: "Generation work in Redis, by BullMQ state",
      labelNames: ["state"],
      registers: [this.registry],
      aggregator: "first", // the same shared state in every API process
      async collect() {
        const counts = await withTimeout(
          queue.getJobCounts("waiting", "active", "delayed", "failed"),
          2000,
          "queue counts",
        ).catch(() => null);
        if (counts === null) return;
        for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
      },
    });
    new Gauge({
      name: "darkroom_admission",
      help: "Fair admission: worker capacity, admitted work, work queued in the tenants' intakes, work waiting for a retry",
      labelNames: ["state"],
      registers: [this.registry],
      aggregator: "first", // the same shared state in every API process
      async collect() {
        const snapshot = await intake.snapshot().catch(() => null);
        if (snapshot === null) return;
        this.set({ state: "capacity" }, snapshot.capacity);
        this.set({ state: "admitted" }, snapshot.admitted);
        this.set({ state: "queued" }, snapshot.queued);
        this.set({ state: "retry_wait" }, snapshot.retryWait);
      },
    });
    // The upstream quota guard's shared state (written by the workers); absent while the guard is
    // off. Both gauges below are collected together on a scrape: they share one Redis read.
    let reading: Promise<UpstreamQuotaState | null> | null = null;
    const quota = () => {
      reading ??= withTimeout(upstreamQuota(), 2000, "upstream quota")
        .catch(() => null)
        .finally(() => {
          reading = null;
        });
      return reading;
    };
    new Gauge({
      name: "darkroom_upstream_quota_available",
      help: "The upstream API key's remaining quota at the last check, in the upstream's units (absent when unlimited)",
      registers: [this.registry],
      aggregator: "first", // the same shared state in every API process
      async collect() {
        const state = await quota();
        this.reset();
        if (state !== null && state.available !== null && !state.unlimited) this.set(state.available);
      },
    });
    new Gauge({
      name: "darkroom_upstream_quota_paused",
      help: "1 while generation is paused because the upstream's quota is used up",
      registers: [this.registry],
      aggregator: "first", // the same shared state in every API process
      async collect() {
        const state = await quota();
        this.reset();
        if (state !== null) this.set(state.paused ? 1 : 0);
      },
    });
    new Gauge({
      name: "darkroom_tenant_running",
      help: "Admitted (running or about to run) work per tenant",
      labelNames: ["tenant"],
      registers: [this.registry],
      aggregator: "first", // the same shared state in every API process
      async collect() {
        const snapshot = await intake.snapshot().catch(() => null);
        if (snapshot === null) return;
        this.reset();
        for (const [tenant, count] of Object.entries(snapshot.running)) this.set({ tenant }, count);
      },
    });
  }

  /** Counts every answered request under its route pattern (never the raw path: ids would explode the labels). */
  middleware(): RequestHandler {
    return (req, res, next) => {
      const end = this.duration.startTimer();
      res.on("finish", () => {
        const route = req.route?.path === undefined ? "unmatched" : `${req.baseUrl}${String(req.route.path)}`;
        end({ method: req.method, route });
        this.requests.inc({ method: req.method, route, status: String(res.statusCode) });
      });
      next();
    };
  }
}
