// Processes of the benchmark: spawning its own helper scripts, and reading CPU time and RSS of any
// process (ours, Postgres's, Redis's) from /proc.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, fstatSync, openSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { childPids, REPO_ROOT } from "@darkroom/testing";

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const TICK_MS = 10;

/** utime + stime in milliseconds from a `stat` file of /proc (a process's or a thread's), undefined when gone. */
function statCpuMs(file: string): number | undefined {
  try {
    const stat = readFileSync(file, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return undefined;
  }
}

/** utime + stime of a process in milliseconds, or 0 when it is gone. */
export function cpuMs(pid: number | undefined): number {
  return pid === undefined ? 0 : (statCpuMs(`/proc/${pid}/stat`) ?? 0);
}

/** Resident set size of a process in KiB. */
export function rssKb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Pids whose command name (/proc/<pid>/comm) is `name`. */
export function pidsNamed(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() === name) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** A process and every process below it (an API's primary and the processes it forked). */
export function processTree(pid: number): number[] {
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...childPids(tree[i] as number));
  return tree;
}

/**
 * CPU of a group of processes: a fixed pid, a pid with the processes below it, or every process of
 * a name (Postgres backends come and go).
 */
export type CpuSource = { pid: number | undefined } | { tree: number | undefined } | { name: string };

function pidsOf(source: CpuSource): number[] {
  if ("name" in source) return pidsNamed(source.name);
  const pid = "pid" in source ? source.pid : source.tree;
  if (pid === undefined) return [];
  return "tree" in source ? processTree(pid) : [pid];
}

/** CPU milliseconds of each process of a source, by pid. */
function cpuByPid(source: CpuSource): Map<number, number> {
  return new Map(pidsOf(source).map((pid) => [pid, cpuMs(pid)]));
}

/**
 * Snapshots CPU of named sources; \`since()\` gives each one's milliseconds since the snapshot,
 * summed per pid over the processes alive at the end (one started meanwhile counts whole). Take it
 * before a process ends: the CPU of a process that is gone is lost.
 */
export function cpuSnapshot(sources: Record<string, CpuSource>): { since(): Record<string, number> } {
  const start = new Map(Object.entries(sources).map(([k, s]) => [k, cpuByPid(s)]));
  return {
    since: () =>
      Object.fromEntries(
        Object.entries(sources).map(([k, s]) => {
          const before = start.get(k) ?? new Map<number, number>();
          let sum = 0;
          for (const [pid, ms] of cpuByPid(s)) if (ms > 0) sum += ms - (before.get(pid) ?? 0);
          return [k, sum];
        }),
      ),
  };
}

export interface NodeProcess {
  name: string;
  child: ChildProcess;
  pid: number | undefined;
  /** Everything the process wrote so far (stdout and stderr go to a log file, never through a pipe). */
  output(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Writes a line to the process's stdin. */
  send(line: string): void;
  /**
   * SIGTERM, then SIGKILL after 15 s; with `graceMs`, first waits that long for the process to exit
   * on its own (one told on stdin to finish).
   */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Runs `node <argv>` with exactly `env` (plus PATH). Output goes to `<logDir>/<name>.log`, so a busy
 * load generator can never slow a process down by reading its pipe late.
 */
export function startNode(name: string, argv: string[], env: Record<string, string>, logDir: string): NodeProcess {
  const logFile = path.join(logDir, `${name}.log`);
  const fd = openSync(logFile, "a");
  // A process started again under the same name appends to the same file: its output (and so
  // `waitFor`) starts where the earlier one's ended, or it would find the earlier one's lines.
  const from = fstatSync(fd).size;
  const child = spawn(process.execPath, argv, {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", NODE_ENV: "production", ...env },
    stdio: ["pipe", fd, fd],
  });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const output = () => {
    try {
      return readFileSync(logFile).subarray(from).toString("utf8");
    } catch {
      return "";
    }
  };
  return {
    name,
    child,
    pid: child.pid,
    output,
    async waitFor(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const text = output();
        const m = pattern.exec(text);
        if (m !== null) return m;
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(
            `${name} exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}:\n${text.slice(-4000)}`,
          );
        }
        if (Date.now() > deadline)
          throw new Error(`${name} did not print ${pattern} within ${timeoutMs} ms:\n${text.slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    send(line) {
      child.stdin?.write(`${line}\n`);
    },
    async stop(graceMs = 0) {
      const running = () => child.exitCode === null && child.signalCode === null;
      if (graceMs > 0 && running()) {
        let grace: NodeJS.Timeout | undefined;
        await Promise.race([exited, new Promise((resolve) => (grace = setTimeout(resolve, graceMs)))]);
        clearTimeout(grace);
      }
      if (running()) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** One reading of a {@link CpuTimeline}. */
export interface CpuReading {
  /** Epoch ms. */
  at: number;
  /** The machine's CPU time, all cores, idle (idle + iowait) and in all, in clock ticks (/proc/stat). */
  idle: number;
  total: number;
  /** CPU ms of each watched thread. */
  threads: Map<number, number>;
}

/** CPU ms of one thread (`tid`, of process `pid`; a process's main thread has tid = pid), undefined when gone. */
export function threadCpuMs(pid: number, tid: number = pid): number | undefined {
  return statCpuMs(`/proc/${pid}/task/${tid}/stat`);
}

/** The machine's idle and total CPU ticks, summed over its cores (the `cpu` line of /proc/stat). */
export function machineTicks(): { idle: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
  // user nice system idle iowait irq softirq steal (guest time is counted in user already)
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  return { idle: (ticks[3] ?? 0) + (ticks[4] ?? 0), total: ticks.reduce((sum, t) => sum + t, 0) };
}

/**
 * Readings of the machine's idle CPU and of the main threads of given processes, every `everyMs`,
 * so that a window known only afterwards (the steady part of a drain) can be read: how much of the
 * machine was idle in it, and how busy a process's JavaScript thread was (a share of one core).
 */
export class CpuTimeline {
  private readonly readings: CpuReading[] = [];
  private readonly watched = new Set<number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    everyMs = 200,
    private readonly read: (watched: number[]) => CpuReading = (watched) => {
      // A thread that is gone is left out: the readings around a window must both hold it.
      const threads = new Map<number, number>();
      for (const pid of watched) {
        const ms = threadCpuMs(pid);
        if (ms !== undefined) threads.set(pid, ms);
      }
      return { at: Date.now(), ...machineTicks(), threads };
    },
  ) {
    this.take();
    this.timer = setInterval(() => this.take(), everyMs);
    this.timer.unref();
  }

  /** Reads this process's main thread from now on. */
  watch(pid: number | undefined): void {
    if (pid === undefined) return;
    this.watched.add(pid);
    this.take();
  }

  /** Takes a reading now (the timer takes one every `everyMs`). */
  take(): void {
    this.readings.push(this.read([...this.watched]));
  }

  /**
   * Over the window [from, to] (epoch ms), widened to the readings around it: the share of the
   * machine's CPU that was idle, and of each watched thread the share of one core it used (its CPU
   * ms over the window's ms). Null when no two readings enclose the window.
   */
  over(from: number, to: number): { idle: number; threads: Map<number, number> } | null {
    const start = this.readings.findLast((r) => r.at <= from);
    const end = this.readings.find((r) => r.at >= to);
    if (start === undefined || end === undefined || end.at <= start.at || end.total <= start.total) return null;
    const threads = new Map<number, number>();
    for (const [pid, ms] of end.threads) {
      const before = start.threads.get(pid);
      if (before !== undefined) threads.set(pid, (ms - before) / (end.at - start.at));
    }
    return { idle: (end.idle - start.idle) / (end.total - start.total), threads };
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
