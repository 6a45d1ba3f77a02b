import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNode } from "./proc";

let logDir: string;
beforeAll(async () => {
  logDir = await mkdtemp(path.join(tmpdir(), "darkroom-proc-test-"));
});
afterAll(async () => {
  await rm(logDir, { recursive: true, force: true });
});

describe("startNode", () => {
  it("gives a process started again under the same name only its own output", async () => {
    const first = startNode("twice", ["-e", "console.log('from the first run')"], {}, logDir);
    await first.waitFor(/from the first run/, 10_000);
    await first.stop();
    const second = startNode("twice", ["-e", "setTimeout(() => console.log('from the second run'), 100)"], {}, logDir);
    await second.waitFor(/from the second run/, 10_000);
    expect(second.output()).not.toMatch(/from the first run/);
    await second.stop();
  });

  it("stops with a grace: a process told to finish ends on its own, one that does not is terminated", async () => {
    // Like the naive pipeline on `next`: some cleanup, then exit 0.
    const script = `process.stdin.on("data", () => setTimeout(() => { console.log("cleaned up"); process.exit(0); }, 300));
      console.log("ready"); setInterval(() => {}, 1000);`;
    const told = startNode("grace", ["-e", script], {}, logDir);
    await told.waitFor(/ready/, 10_000);
    told.send("next");
    await told.stop(10_000);
    expect(told.output()).toMatch(/cleaned up/);
    expect({ code: told.child.exitCode, signal: told.child.signalCode }).toEqual({ code: 0, signal: null });

    const silent = startNode("no-grace", ["-e", script], {}, logDir);
    await silent.waitFor(/ready/, 10_000);
    const started = Date.now();
    await silent.stop(200);
    expect(silent.child.signalCode).toBe("SIGTERM");
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
