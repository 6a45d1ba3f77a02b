// What the benchmark reports: the goals checked against a run, the table, and the
// generated part of docs/performance.md (the rest of that file is written by hand and kept).
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import type { Spread } from "./stats";

export interface CannonFigures {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  non2xx: number;
}

type CpuMs = Record<string, number>;

export interface BenchResult {
  generatedAt: string;
  seconds: number;
  commit: string;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string };
  runs: number;
  flags: Record<string, string | undefined>;
  upstreamCalls: number;
  scenarios: {
    submit?: {
      settings: Record<string, number>;
      runs: {
        darkroom: CannonFigures;
        baseline: CannonFigures;
        ratio: number;
        cpuMsPerRequest: { darkroom: CpuMs; baseline: CpuMs };
      }[];
      summary: Record<string, Spread>;
    };
    drain?: {
      settings: Record<string, number>;
      runs: { cpuMsPerJob: { darkroom: CpuMs; naive: CpuMs; naiveNoProgress: CpuMs } }[];
      summary: Record<string, Spread>;
    };
    inflight?: { settings: Record<string, number>; runs: unknown[]; summary: Record<string, Spread> };
    latency?: { settings: Record<string, number>; runs: unknown[]; summary: Record<string, Spread> };
    cpu?: Record<string, Record<string, Spread>>;
  };
  goals: Goal[];
}

export interface Goal {
  id: string;
  scenario: string;
  goal: string;
  /** The median reached; null when the scenario did not run. */
  value: number | null;
  met: boolean | null;
}

/** Issue 10's "done when", each against the median of the runs. */
const GOALS: {
  id: string;
  scenario: keyof BenchResult["scenarios"];
  goal: string;
  measure: string;
  test: (v: number) => boolean;
}[] = [
  {
    id: "submit.rps",
    scenario: "submit",
    goal: "submit >= 3,000 jobs/s",
    measure: "darkroomRps",
    test: (v) => v >= 3000,
  },
  { id: "submit.p99", scenario: "submit", goal: "submit p99 < 50 ms", measure: "darkroomP99", test: (v) => v < 50 },
  {
    id: "submit.ratio",
    scenario: "submit",
    goal: "submit >= 60 % of the baseline",
    measure: "ratio",
    test: (v) => v >= 0.6,
  },
  { id: "drain.rate", scenario: "drain", goal: "drain >= 600 jobs/s", measure: "darkroomRate", test: (v) => v >= 600 },
  {
    id: "drain.ratioNaive",
    scenario: "drain",
    goal: "drain >= 2x the naive pipeline",
    measure: "ratioNaive",
    test: (v) => v >= 2,
  },
  {
    id: "drain.ratioNoProgress",
    scenario: "drain",
    goal: "drain >= 85 % of the naive pipeline without progress",
    measure: "ratioNoProgress",
    test: (v) => v >= 0.85,
  },
  {
    id: "drain.failed",
    scenario: "drain",
    goal: "drain: every job succeeded",
    measure: "darkroomFailed",
    test: (v) => v === 0,
  },
  {
    id: "inflight.streams",
    scenario: "inflight",
    goal: "5,000 streams in one worker",
    measure: "streams",
    test: (v) => v >= 5000,
  },
  {
    id: "inflight.rss",
    scenario: "inflight",
    goal: "<= 100 KB RSS per job",
    measure: "rssKbPerJob",
    test: (v) => v <= 100,
  },
  {
    id: "inflight.lag",
    scenario: "inflight",
    goal: "event-loop lag p99 < 100 ms",
    measure: "lagP99Ms",
    test: (v) => v < 100,
  },
  {
    id: "inflight.stretch",
    scenario: "inflight",
    goal: "every job within 10 % of its stream length",
    measure: "stretchMax",
    test: (v) => v <= 1.1,
  },
  {
    id: "latency.inflight",
    scenario: "latency",
    goal: "1,000 jobs in flight",
    measure: "inFlight",
    test: (v) => v >= 1000,
  },
  {
    id: "latency.p99",
    scenario: "latency",
    goal: "progress latency p99 < 100 ms",
    measure: "p99Ms",
    test: (v) => v < 100,
  },
];

export const GOAL_IDS = GOALS.map((g) => g.id);

export function evaluateGoals(result: BenchResult): Goal[] {
  return GOALS.map(({ id, scenario, goal, measure, test }) => {
    const summary = (result.scenarios[scenario] as { summary?: Record<string, Spread> } | undefined)?.summary;
    const value = summary?.[measure]?.median;
    if (value === undefined) return { id, scenario, goal, value: null, met: null };
    // The failure count must hold in every run, not only in the median one.
    const met = id === "drain.failed" ? (summary?.[measure]?.max ?? 1) === 0 : test(value);
    return { id, scenario, goal, value, met };
  });
}

export function machineAndCommit(): Pick<BenchResult, "commit" | "machine"> {
  let commit = "unknown";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { encoding: "utf8" }).trim();
    if (dirty !== "") commit += " (with uncommitted changes)";
  } catch {
    // not a git checkout
  }
  return {
    commit,
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? "unknown",
      memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      node: process.version,
    },
  };
}

export function fmt(value: number | undefined | null): string {
  if (value === undefined || value === null || !Number.isFinite(value)) return "–";
  const abs = Math.abs(value);
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

const cell = (s: Spread | undefined): [string, string] =>
  s === undefined ? ["–", "–"] : [fmt(s.median), s.runs.length > 1 ? `${fmt(s.min)}–${fmt(s.max)}` : "(1 run)"];

/** The rows of the result table: scenario, measure, median, spread, goal. */
export function tableRows(result: BenchResult): string[][] {
  const rows: string[][] = [];
  const goalOf = (id: string) => {
    const goal = result.goals.find((g) => g.id === id);
    return goal === undefined || goal.met === null ? "" : `${goal.goal}: ${goal.met ? "met" : "missed"}`;
  };
  const add = (scenario: string, measure: string, s: Spread | undefined, goal = "") =>
    rows.push([scenario, measure, ...cell(s), goal]);
  const { submit, drain, inflight, latency, cpu } = result.scenarios;
  if (submit) {
    const m = submit.summary;
    add("1 submit", "Darkroom req/s", m.darkroomRps, goalOf("submit.rps"));
    add("1 submit", "Darkroom p50 ms", m.darkroomP50);
    add("1 submit", "Darkroom p99 ms", m.darkroomP99, goalOf("submit.p99"));
    add("1 submit", "Darkroom errors + non-2xx", m.darkroomErrors);
    add("1 submit", "Darkroom accepted jobs not in the database", m.darkroomLost);
    add("1 submit", "baseline req/s", m.baselineRps);
    add("1 submit", "baseline p50 ms", m.baselineP50);
    add("1 submit", "baseline p99 ms", m.baselineP99);
    add("1 submit", "ratio Darkroom / baseline", m.ratio, goalOf("submit.ratio"));
  }
  if (drain) {
    const m = drain.summary;
    add("2 drain", "Darkroom jobs/s (steady: 20–90 % of the jobs)", m.darkroomRate, goalOf("drain.rate"));
    add("2 drain", "Darkroom jobs/s (whole drain)", m.darkroomRateAll);
    add("2 drain", "Darkroom jobs not succeeded", m.darkroomFailed, goalOf("drain.failed"));
    add("2 drain", "naive pipeline jobs/s (steady)", m.naiveRate);
    add("2 drain", "naive pipeline jobs/s (whole drain)", m.naiveRateAll);
    add("2 drain", "naive without progress jobs/s (steady)", m.naiveNoProgressRate);
    add("2 drain", "naive without progress jobs/s (whole drain)", m.naiveNoProgressRateAll);
    add("2 drain", "ratio Darkroom / naive", m.ratioNaive, goalOf("drain.ratioNaive"));
    add("2 drain", "ratio Darkroom / no progress", m.ratioNoProgress, goalOf("drain.ratioNoProgress"));
    add("2 drain", "file creation µs before the run (probe)", m.fileCreateUs);
    add("2 drain", "machine CPU idle %, steady window: Darkroom", m.darkroomIdle);
    add("2 drain", "machine CPU idle %, steady window: naive without progress", m.naiveNoProgressIdle);
    add("2 drain", "main thread % of a core, steady window: Darkroom's worker", m.darkroomMainThread);
    add("2 drain", "main thread % of a core, steady window: naive without progress", m.naiveNoProgressMainThread);
  }
  if (inflight) {
    const m = inflight.summary;
    add("3 in flight", "streams in one worker", m.streams, goalOf("inflight.streams"));
    add("3 in flight", "worker RSS KB per job", m.rssKbPerJob, goalOf("inflight.rss"));
    add("3 in flight", "event-loop lag p50 ms", m.lagP50Ms);
    add("3 in flight", "event-loop lag p99 ms", m.lagP99Ms, goalOf("inflight.lag"));
    add("3 in flight", "Postgres commits/s", m.commitsPerSecond);
    add("3 in flight", "stretch median (job / stream)", m.stretchMedian);
    add("3 in flight", "stretch max", m.stretchMax, goalOf("inflight.stretch"));
    add("3 in flight", "jobs not succeeded", m.failed);
  }
  if (latency) {
    const m = latency.summary;
    add("4 latency", "jobs in flight", m.inFlight, goalOf("latency.inflight"));
    add("4 latency", "progress latency p50 ms", m.p50Ms);
    add("4 latency", "progress latency p99 ms", m.p99Ms, goalOf("latency.p99"));
    add("4 latency", "samples", m.samples);
  }
  for (const [group, processes] of Object.entries(cpu ?? {})) {
    for (const [name, s] of Object.entries(processes)) add("5 CPU ms", `${group}: ${name}`, s);
  }
  return rows;
}

const HEAD = ["scenario", "measure", "median", "spread (min–max)", "goal"];

export function renderTable(result: BenchResult): string {
  const rows = [HEAD, ...tableRows(result)];
  const width = HEAD.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(width[i] ?? 0)).join("  ");
  return [line(HEAD), width.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

function markdownTable(head: string[], rows: string[][]): string {
  const esc = (c: string) => c.replace(/\|/g, "\\|");
  return [
    `| ${head.join(" | ")} |`,
    `|${head.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.map(esc).join(" | ")} |`),
  ].join("\n");
}

export const GENERATED_START =
  "<!-- bench:generated:start (npm run bench rewrites everything up to the end marker) -->";
export const GENERATED_END = "<!-- bench:generated:end -->";

/** The generated part of docs/performance.md. */
export function renderDoc(result: BenchResult): string {
  const { machine } = result;
  const settings = Object.entries(result.flags)
    .filter(([k, v]) => v !== undefined && k !== "json" && k !== "doc")
    .map(([k, v]) => `\`--${k} ${v}\``)
    .join(", ");
  const goals = result.goals.map((g) => [
    g.goal,
    g.value === null ? "not run" : fmt(g.value),
    g.met === null ? "–" : g.met ? "met" : "**missed**",
  ]);
  return [
    GENERATED_START,
    "## Last run",
    "",
    `${result.generatedAt.slice(0, 16).replace("T", " ")} UTC, commit ${result.commit}, ${result.runs} run(s) per scenario, ` +
      `${Math.round(result.seconds)} s in all. Machine: ${machine.cpus} cores (${machine.cpuModel}), ` +
      `${machine.memoryGiB} GiB, Node ${machine.node}; Postgres, Redis, the API, the worker, the stand-in and the ` +
      "load generator share the cores. Settings: " +
      `${settings}.`,
    "",
    markdownTable(HEAD, tableRows(result)),
    "",
    "CPU is utime + stime from `/proc/<pid>/stat` over the scenario, divided by its requests or jobs;",
    "Postgres and Redis are every process of that name on the machine, so load from anything else",
    "running at the time counts too.",
    "",
    "### Goals (issue 10)",
    "",
    markdownTable(["goal", "reached (median)", "met"], goals),
    GENERATED_END,
  ].join("\n");
}

const SKELETON = `# Performance

\`npm run bench\` measures Darkroom on this machine beside bare baselines in the same run; see
"How the benchmark works" below. The next section is generated by the last run.

${GENERATED_START}
${GENERATED_END}
`;

/** Replaces the generated part of the document (creating it when missing), keeping the rest. */
export async function writeDoc(file: string, block: string): Promise<void> {
  const text = existsSync(file) ? await readFile(file, "utf8") : SKELETON;
  const start = text.indexOf(GENERATED_START);
  const end = text.indexOf(GENERATED_END);
  const next =
    start === -1 || end === -1
      ? `${text.trimEnd()}\n\n${block}\n`
      : `${text.slice(0, start)}${block}${text.slice(end + GENERATED_END.length)}`;
  await writeFile(file, next);
}
