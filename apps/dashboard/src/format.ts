const TIME = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});
const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function formatTime(iso: string): string {
  return TIME.format(new Date(iso));
}

export function formatDateTime(iso: string): string {
  return DATE_TIME.format(new Date(iso));
}

export function formatSeconds(seconds: number | null): string {
  if (seconds === null) return "–";
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 120) return `${Math.round(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

/** Wall time from creation to the end (or to `now` while the job is still going). */
export function jobDurationSeconds(job: { created_at: string; finished_at: string | null }, now: number): number {
  const end = job.finished_at === null ? now : Date.parse(job.finished_at);
  return Math.max(0, (end - Date.parse(job.created_at)) / 1000);
}

export function formatPercent(part: number, whole: number): string {
  if (whole === 0) return "–";
  return `${Math.round((part / whole) * 100)}%`;
}

export function formatMs(ms: number | null): string {
  if (ms === null) return "–";
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(2)} s`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** A cap, quota or budget as the tenants page shows it; null is "none". */
export function formatLimit(value: number | null): string {
  return value === null ? "none" : value.toLocaleString();
}

const USD = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumFractionDigits: 4 });

export function formatUsd(value: number | null): string {
  return value === null ? "none" : USD.format(value);
}

const UTC_DATE = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" });

/** The UTC calendar day of an instant (usage periods are UTC days and months). */
export function formatUtcDate(iso: string): string {
  return UTC_DATE.format(new Date(iso));
}

const UTC_DAY = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" });

/** A UTC day as the usage report names it (`2026-05-03`), short ("May 3"). */
export function formatUtcDay(day: string): string {
  const at = new Date(`${day}T00:00:00Z`);
  return Number.isNaN(at.getTime()) ? day : UTC_DAY.format(at);
}

export function formatCount(value: number): string {
  return value.toLocaleString();
}
