import { useEffect, useMemo, useRef, useState } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { AdminApi } from "../api-client";
import type { Trends, TrendWindow } from "../types";

/** The charts reread their window this often (each read is three indexed statements). */
const TRENDS_INTERVAL_MS = 10_000;
const PALETTE = ["#1971c2", "#2b8a3e", "#c92a2a", "#a16207", "#7048e8", "#0c8599", "#d6336c", "#495057"];

interface Line {
  label: string;
  values: (number | null)[];
}

interface TrendChartProps {
  id: string;
  title: string;
  /** What the chart shows, in words: its text alternative (the canvas is hidden from screen readers). */
  summary: string;
  xs: number[];
  lines: Line[];
}

/** One uPlot line chart, as wide as its box (it follows the box when the window resizes). */
function TrendChart({ id, title, summary, xs, lines }: TrendChartProps) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const width = () => Math.max(200, el.clientWidth);
    const plot = new uPlot(
      {
        width: width(),
        height: 180,
        legend: { show: true },
        series: [{}, ...lines.map((line, i) => ({ label: line.label, stroke: PALETTE[i % PALETTE.length], width: 2 }))],
        axes: [{}, { size: 44 }],
      },
      [xs, ...lines.map((line) => line.values)],
      el,
    );
    const observer = new ResizeObserver(() => plot.setSize({ width: width(), height: 180 }));
    observer.observe(el);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [xs, lines]);
  return (
    <figure className="trend" aria-labelledby={`${id}-title`} data-testid={id}>
      <h3 id={`${id}-title`} className="trend-title">
        {title}
      </h3>
      <div ref={box} className="trend-plot" aria-hidden="true" />
      <figcaption className="trend-summary">{summary}</figcaption>
    </figure>
  );
}

const sum = (values: (number | null)[]) => values.reduce<number>((a, b) => a + (b ?? 0), 0);
const max = (values: (number | null)[]) => values.reduce<number>((a, b) => Math.max(a, b ?? 0), 0);
const fmt = (seconds: number) => `${seconds.toFixed(1)} s`;

/** The charts' data from the API's answer (x: bucket starts, in seconds as uPlot wants). */
function chartsOf(t: Trends): TrendChartProps[] {
  const start = Date.parse(t.from) / 1000;
  const xs = Array.from({ length: t.buckets }, (_, i) => start + i * t.bucket_seconds);
  const per = t.bucket_seconds === 60 ? "per minute" : "per 5 minutes";
  const span = t.window === "1h" ? "the last hour" : "the last 24 hours";
  const succeeded = sum(t.succeeded);
  const fallback = sum(t.fallback_used);
  const durations = Object.entries(t.duration_by_model);
  const errors = Object.entries(t.errors_by_code);
  return [
    {
      id: "trend-jobs",
      title: `Jobs ${per}`,
      summary: `In ${span}: ${sum(t.created)} created, ${succeeded} succeeded, ${sum(t.failed)} failed, ${sum(t.canceled)} canceled; most created in one bucket: ${max(t.created)}.`,
      xs,
      lines: [
        { label: "created", values: t.created },
        { label: "succeeded", values: t.succeeded },
        { label: "failed", values: t.failed },
      ],
    },
    {
      id: "trend-fallback",
      title: "Fallback share of successes",
      summary:
        succeeded === 0
          ? `No job succeeded in ${span}.`
          : `${Math.round((100 * fallback) / succeeded)}% of the ${succeeded} successes in ${span} came from the fallback model.`,
      xs,
      lines: [
        {
          label: "fallback %",
          values: t.succeeded.map((n, i) => (n === 0 ? null : (100 * (t.fallback_used[i] ?? 0)) / n)),
        },
      ],
    },
    {
      id: "trend-duration",
      title: "Duration to success, p50 and p95 (seconds)",
      summary:
        durations.length === 0
          ? `No job succeeded in ${span}.`
          : `${durations.map(([model, d]) => `${model}: highest p95 ${fmt(max(d.p95))}, highest p50 ${fmt(max(d.p50))}`).join("; ")}.`,
      xs,
      lines: durations.flatMap(([model, d]) => [
        { label: `${model} p50`, values: d.p50 },
        { label: `${model} p95`, values: d.p95 },
      ]),
    },
    {
      id: "trend-errors",
      title: `Failed jobs by error code, ${per}`,
      summary:
        errors.length === 0
          ? `No job failed in ${span}.`
          : `${errors.map(([code, values]) => `${code}: ${sum(values)}`).join(", ")} in ${span}.`,
      xs,
      lines: errors.map(([code, values]) => ({ label: code, values })),
    },
    {
      id: "trend-webhooks",
      title: `Webhook deliveries ${per}`,
      summary: `In ${span}: ${sum(t.deliveries_succeeded)} delivered, ${sum(t.deliveries_failed)} failed for good.`,
      xs,
      lines: [
        { label: "delivered", values: t.deliveries_succeeded },
        { label: "failed", values: t.deliveries_failed },
      ],
    },
  ];
}

interface TrendChartsProps {
  api: AdminApi;
  onError(error: unknown): void;
}

/** The overview's charts over the last hour or day, with a switch between the two. */
export function TrendCharts({ api, onError }: TrendChartsProps) {
  const [window, setWindow] = useState<TrendWindow>("1h");
  const [trends, setTrends] = useState<Trends | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    const load = () => api.trends(window, controller.signal).then(setTrends, onError);
    void load();
    const timer = setInterval(() => void load(), TRENDS_INTERVAL_MS);
    return () => {
      clearInterval(timer);
      controller.abort();
    };
  }, [api, window, onError]);
  // Built once per answer: the charts redraw when their data object changes, not on every render.
  const charts = useMemo(() => (trends === null ? [] : chartsOf(trends)), [trends]);
  return (
    <section className="trends" aria-labelledby="trends-title" data-testid="trends">
      <div className="trends-head">
        <h2 id="trends-title">Trends</h2>
        <fieldset className="trend-window">
          <legend className="visually-hidden">Time window</legend>
          {(["1h", "24h"] as const).map((w) => (
            <label key={w}>
              <input
                type="radio"
                name="trend-window"
                value={w}
                checked={window === w}
                onChange={() => setWindow(w)}
                data-testid={`trend-window-${w}`}
              />
              {w === "1h" ? "Last hour" : "Last 24 h"}
            </label>
          ))}
        </fieldset>
      </div>
      {trends === null ? (
        <p className="muted">Loading trends…</p>
      ) : (
        <div className="trend-grid" data-window={trends.window}>
          {charts.map((chart) => (
            <TrendChart key={chart.id} {...chart} />
          ))}
        </div>
      )}
    </section>
  );
}
