// The process tree of `npm start`: its children, and the one way they all stop.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { nodeFlagsOf } from "@darkroom/config";

/** A port `npm start` is about to use, and the variable that chooses it. */
export interface PortClaim {
  port: number;
  host: string;
  variable: string;
  what: string;
}

/**
 * The first claim whose port something else already holds (listening on it, on this host or on
 * every interface), or null. Checked before anything starts, so that a busy port stops `npm start`
 * with its name at once, instead of the API talking to whatever answers there.
 */
export async function findBusyPort(claims: readonly PortClaim[]): Promise<PortClaim | null> {
  for (const claim of claims) {
    if (claim.port === 0) continue;
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once("error", () => resolve(false));
      probe.listen({ port: claim.port, host: claim.host, exclusive: true }, () => probe.close(() => resolve(true)));
    });
    if (!free) return claim;
  }
  return null;
}

/** The parent of a process, from /proc (Linux); null where that cannot be read. */
function parentOf(pid: number): number | null {
  try {
    // The command name (field 2) is in parentheses and may hold spaces: the fields after it are plain.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    return Number.isInteger(ppid) ? ppid : null;
  } catch {
    return null;
  }
}

/** The command name of a process, from /proc (Linux); "" where that cannot be read. */
function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** Starts bundles as children and stops all of them together, whatever ends the run. */
export class Supervisor {
  private readonly children: { name: string; child: ChildProcess }[] = [];
  private stopping: Promise<never> | null = null;

  constructor(
    private readonly bundleDir: string,
    private readonly graceMs: number,
  ) {}

  /** Runs `dist/<file>`; if it exits by itself, everything stops. */
  run(name: string, file: string, env: NodeJS.ProcessEnv): ChildProcess {
    const child = spawn(process.execPath, [...nodeFlagsOf(file), path.join(this.bundleDir, file)], {
      env,
      stdio: "inherit",
    });
    child.on("exit", (code, signal) => {
      if (this.stopping !== null) return;
      console.error(`${name} exited (${signal ?? code}); stopping everything`);
      void this.stop(1);
    });
    this.children.push({ name, child });
    return child;
  }

  /**
   * SIGTERM to every child, SIGKILL to those still running after the grace period (their own
   * shutdown takes up to SHUTDOWN_GRACE_MS), then exits with `code`. Called again while stopping,
   * it waits for the first call.
   */
  stop(code: number): Promise<never> {
    this.stopping ??= this.stopChildren().then(() => process.exit(code));
    return this.stopping;
  }

  private async stopChildren(): Promise<void> {
    const running = () => this.children.filter(({ child }) => child.exitCode === null && child.signalCode === null);
    for (const { child } of running()) child.kill("SIGTERM");
    const deadline = Date.now() + this.graceMs + 3000;
    while (running().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    for (const { child } of running()) child.kill("SIGKILL");
  }

  /**
   * Stops everything on SIGINT, SIGTERM or SIGHUP, and when the process in front of `npm start` goes
   * away without passing a signal on: npm forwards SIGINT and SIGTERM to its script, but dies of a
   * SIGHUP (or SIGKILL) alone, which would leave this tree running under init. That shows as a new
   * parent here, or (when a shell sits between npm and this process) as a new parent of that shell.
   */
  stopOnSignalsAndOrphaning(): void {
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => void this.stop(0));
    const parent = process.ppid;
    // `npm start` execs this process, so npm is the parent; a script run through `sh -c` without
    // exec has the shell in between, and npm is the shell's parent.
    const shellBetween =
      process.env.npm_lifecycle_event !== undefined && /^(sh|dash|bash|zsh)$/.test(commandOf(parent));
    const grandparent = shellBetween ? parentOf(parent) : null;
    const timer = setInterval(() => {
      const orphaned = process.ppid !== parent || (grandparent !== null && parentOf(parent) !== grandparent);
      if (!orphaned) return;
      clearInterval(timer);
      console.error("the process that started npm start is gone; stopping everything");
      void this.stop(0);
    }, 500);
    timer.unref();
  }
}
