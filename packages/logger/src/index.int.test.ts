import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * Runs `body` in a fresh Node process (with the logger as `createLogger`, and `stopOnSignals`); its
 * stdout and exit code.
 */
function run(body: string): Promise<{ stdout: string; code: number | null }> {
  const script = `import { createLogger, stopOnSignals } from ${JSON.stringify(path.join(here, "index.ts"))};\n${body}`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let stdout = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  return new Promise((resolve) => child.on("close", (code) => resolve({ stdout, code })));
}

const LINES = 20_000;

/**
 * The process logger writes stdout asynchronously; what it has buffered still reaches stdout when
 * the process ends, however it ends short of being killed.
 */
describe("the asynchronous stdout logger", () => {
  it("loses no line on process.exit right after logging", async () => {
    const { stdout, code } = await run(`
      const logger = createLogger({ name: "t", level: "info", pretty: false });
      for (let i = 0; i < ${LINES}; i++) logger.info({ i }, "line");
      logger.error("last words");
      process.exit(3);
    `);
    expect(code).toBe(3);
    const lines = stdout.trim().split("\n");
    expect(lines).toHaveLength(LINES + 1);
    expect(JSON.parse(lines.at(-1) ?? "{}")).toMatchObject({ level: "error", msg: "last words" });
  }, 20_000);

  it("loses no line when an uncaught exception ends the process", async () => {
    const { stdout, code } = await run(`
      const logger = createLogger({ name: "t", level: "info", pretty: false });
      for (let i = 0; i < ${LINES}; i++) logger.info({ i }, "line");
      setImmediate(() => { throw new Error("boom"); });
    `);
    expect(code).not.toBe(0);
    expect(stdout.trim().split("\n")).toHaveLength(LINES);
  }, 20_000);

  it("writes a lone line while the process keeps running (lines wait for a batch only briefly)", async () => {
    const script = `import { createLogger } from ${JSON.stringify(path.join(here, "index.ts"))};
      createLogger({ name: "t", level: "info", pretty: false }).info("alone");
      setInterval(() => {}, 60_000);`;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      // Without the periodic flush the line would wait in the buffer until the process ends.
      const line = await new Promise<string>((resolve, reject) => {
        let stdout = "";
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
          stdout += chunk;
          if (stdout.includes("\n")) resolve(stdout);
        });
        child.on("exit", () => reject(new Error(`exited first; stdout: ${stdout}`)));
      });
      expect(JSON.parse(line)).toMatchObject({ level: "info", msg: "alone" });
    } finally {
      child.kill("SIGKILL");
    }
  }, 20_000);

  it("never splits a line between processes sharing one stdout pipe, even with a slow reader", async () => {
    // Two writers on one pipe (as API processes share one stdout), lines of assorted lengths, and a
    // reader taking 512 bytes at a time, so the writers keep blocking on a full pipe mid-batch: a
    // write of more than PIPE_BUF bytes is then taken in pieces, interleaved with the other one's.
    const script = `import { createLogger } from ${JSON.stringify(path.join(here, "index.ts"))};
      const logger = createLogger({ name: "t", level: "info", pretty: false });
      const id = process.argv.at(-1);
      for (let i = 0; i < ${LINES}; i++) logger.info({ id, i, pad: "x".repeat(i % 700) }, "line");`;
    const node = (id: string) => `"$NODE" --import tsx --input-type=module -e "$SCRIPT" -- ${id}`;
    const child = spawn("sh", ["-c", `{ ${node("a")} & ${node("b")} & wait; } | dd bs=512 status=none`], {
      env: { ...process.env, NODE: process.execPath, SCRIPT: script },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    await new Promise((resolve) => child.on("close", resolve));
    const lines = stdout.trim().split("\n");
    const torn = lines.filter((line) => {
      try {
        JSON.parse(line);
        return false;
      } catch {
        return true;
      }
    });
    expect(torn.map((line) => line.slice(0, 120))).toEqual([]);
    expect(lines).toHaveLength(2 * LINES);
  }, 30_000);
});

describe("stopOnSignals", () => {
  it("exits 1 saying so when the role's close fails, and a second signal starts no second close", async () => {
    const { stdout, code } = await run(`
      const logger = createLogger({ name: "t", level: "info", pretty: false });
      stopOnSignals(logger, "role", 10_000, async () => {
        logger.info("closing");
        await new Promise((resolve) => setTimeout(resolve, 200));
        throw new Error("the pool would not end");
      });
      setInterval(() => {}, 60_000);
      process.kill(process.pid, "SIGTERM");
      setTimeout(() => process.kill(process.pid, "SIGINT"), 50);
    `);
    expect(code).toBe(1);
    const lines = stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { msg: string; signal?: string; err?: { message: string } });
    expect(lines.map((line) => line.msg)).toEqual(["role stopping", "closing", "role did not close cleanly"]);
    expect(lines[0]?.signal).toBe("SIGTERM");
    expect(lines[2]?.err?.message).toBe("the pool would not end");
  }, 20_000);
});
