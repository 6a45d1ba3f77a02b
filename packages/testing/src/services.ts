import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A Redis server of a test's own (never the machine's shared one), stoppable and restartable: what
 * the test does to it (freeze it, stop it, watch it with MONITOR) touches no other test file.
 */
export class PrivateRedis {
  private child: ChildProcess | null = null;
  readonly dir = mkdtempSync(path.join(tmpdir(), "darkroom-redis-"));
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn(
      "redis-server",
      ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", this.dir],
      { stdio: "ignore" },
    );
    await waitUntil(
      () =>
        execFileSync("redis-cli", ["-p", String(this.port), "ping"], { encoding: "utf8", stdio: "pipe" }).trim() ===
        "PONG",
      10_000,
      "private redis",
    );
  }

  /** Stops it abruptly (data is not kept: there is none on disk). */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === null || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
    this.child = null;
  }

  /** Sends `signal` to the server (SIGSTOP freezes it: it takes connections and never answers). */
  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  flushAll(): void {
    execFileSync("redis-cli", ["-p", String(this.port), "flushall"]);
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A {@link PrivateRedis} on a free port, started. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const redis = new PrivateRedis(await freePort());
  await redis.start();
  return redis;
}

const PG_BIN = (() => {
  const root = "/usr/lib/postgresql";
  const version = existsSync(root) ? readdirSync(root).sort().at(-1) : undefined;
  return version === undefined ? "" : path.join(root, version, "bin");
})();

/** A PostgreSQL cluster of the chaos run's own, in a temporary folder, run as the postgres user. */
export class PrivatePostgres {
  readonly dir = mkdtempSync(path.join(tmpdir(), "darkroom-chaos-pg-"));
  constructor(readonly port: number) {}

  get serverUrl(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}`;
  }

  private pgCtl(args: string[]): void {
    execFileSync(
      "runuser",
      ["-u", "postgres", "--", path.join(PG_BIN, "pg_ctl"), "-D", path.join(this.dir, "data"), ...args],
      {
        stdio: "ignore",
      },
    );
  }

  async start(): Promise<void> {
    if (PG_BIN === "") throw new Error("no PostgreSQL server binaries under /usr/lib/postgresql");
    chownSync(
      this.dir,
      Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" })),
      Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" })),
    );
    execFileSync(
      "runuser",
      [
        "-u",
        "postgres",
        "--",
        path.join(PG_BIN, "initdb"),
        "-D",
        path.join(this.dir, "data"),
        "-A",
        "trust",
        "-U",
        "postgres",
        "--no-sync",
        "-E",
        "UTF8",
      ],
      { stdio: "ignore" },
    );
    this.pgCtl([
      "-o",
      `-p ${this.port} -c listen_addresses=127.0.0.1 -k ${this.dir} -c fsync=off -c max_connections=200`,
      "-l",
      path.join(this.dir, "log"),
      "-w",
      "start",
    ]);
  }

  /** `pg_ctl restart -m fast`: every connection is cut, the server is back a moment later. */
  restart(): void {
    this.pgCtl(["-m", "fast", "-w", "restart"]);
  }

  async close(): Promise<void> {
    try {
      this.pgCtl(["-m", "immediate", "-w", "stop"]);
    } catch {
      // already down
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
