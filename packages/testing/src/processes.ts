import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { nodeFlagsOf } from "@darkroom/config";
import { bundleDir, REPO_ROOT } from "./run";

export { REPO_ROOT };

/**
 * `node`'s flags for a Darkroom bundle a test runs itself ({@link startProcess}, {@link runBundle}):
 * the bundle's production flags (packages/config/src/node-flags.ts: the API's young generation), and
 * `--liftoff-only`. The processes `start.js` starts are the supervisor's, with production's flags.
 * Prisma's query compiler is 3.4 MB of WebAssembly: V8 compiles it with Liftoff, then recompiles
 * the functions its start-up runs hot with TurboFan on background threads, about 0.45 CPU-s per
 * process (API 1.91 -> 1.42 CPU-s to listen, worker 1.70 -> 1.27 to be ready, CLI 2.0 -> 1.35 per
 * command, medians of 5-7 starts). A run starts some 170 of these processes, each living seconds and
 * running a handful of queries, on two shared cores: the optimised code never pays its compilation
 * back. Production keeps V8's tiers; the flag changes how fast code runs, never what it does.
 */
function testNodeFlags(file: string): string[] {
  return [...nodeFlagsOf(file), "--liftoff-only"];
}

/** What an API process logs once it listens; the capture is its port. */
export const API_LISTENING = /"url":"http:\/\/127\.0\.0\.1:(\d+)".*"msg":"api listening"/;

export interface RunningProcess {
  child: ChildProcess;
  /** Everything the process wrote so far (stdout and stderr). */
  output(): string;
  /** Resolves once `pattern` appears in the output. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts the bundle `dist/<file>` with exactly `env` (plus PATH), collecting its output. Under the
 * suite the bundle is this run's own build, made from the current sources by the global setup.
 */
export function startProcess(file: string, env: Record<string, string>): RunningProcess {
  const child = spawn(process.execPath, [...testNodeFlags(file), path.join(bundleDir(), file)], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", NODE_ENV: "test", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    out += chunk.toString("utf8");
    for (const w of waiters) w();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  child.on("exit", () => {
    for (const w of waiters) w();
  });
  return {
    child,
    output: () => out,
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(out);
          if (m) {
            cleanup();
            resolve(m);
          } else if (child.exitCode !== null) {
            cleanup();
            reject(new Error(`${file} exited (${child.exitCode}) before printing ${pattern}:\n${out}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${file} did not print ${pattern} within ${timeoutMs} ms:\n${out}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

const execFileAsync = promisify(execFile);

/**
 * Runs the bundle `dist/<file>` to its end (a CLI command, a process expected to refuse its
 * settings) with exactly `env` (plus PATH): its stdout and stderr, or execFile's error (with
 * `code`, `stdout` and `stderr`) when it exits non-zero.
 */
export function runBundle(
  file: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync(process.execPath, [...testNodeFlags(file), path.join(bundleDir(), file), ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", ...env },
  });
}

/**
 * Runs the bundle as {@link runBundle} does, expecting it to fail: its exit code and output. A run
 * that exits 0 is an error (the test expected a refusal).
 */
export async function runBundleFailure(
  file: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const outcome = await runBundle(file, args, env).then(
    (ok) => ({ ok }),
    (error: { code: number; stdout: string; stderr: string }) => ({ error }),
  );
  if ("ok" in outcome) throw new Error(`${file} ${args.join(" ")} exited 0:\n${outcome.ok.stdout}${outcome.ok.stderr}`);
  const { code, stdout, stderr } = outcome.error;
  return { code, stdout, stderr };
}

/** The processes a process started and that still run (Linux: /proc/<pid>/task/<pid>/children); [] once it is gone. */
export function childPids(pid: number): number[] {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    return children === "" ? [] : children.split(" ").map(Number);
  } catch {
    return [];
  }
}

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function until<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
