import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CpuReading, CpuTimeline, cpuSnapshot, processTree, startNode } from "./proc";

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

describe("CpuTimeline", () => {
  it("reads a window's idle share and a thread's share of a core from the readings around it", () => {
    const readings: CpuReading[] = [
      { at: 1_000, idle: 100, total: 200, threads: new Map([[7, 0]]) },
      { at: 1_200, idle: 130, total: 240, threads: new Map([[7, 100]]) },
      { at: 1_400, idle: 140, total: 280, threads: new Map([[7, 250]]) },
      { at: 1_600, idle: 180, total: 320, threads: new Map([[7, 260]]) },
    ];
    let next = 0;
    const timeline = new CpuTimeline(60_000, () => readings[next++] as CpuReading);
    timeline.take();
    timeline.take();
    timeline.take();
    timeline.stop();
    // Widened to the readings around it: 1,200 to 1,400.
    expect(timeline.over(1_250, 1_390)).toEqual({ idle: 10 / 40, threads: new Map([[7, 150 / 200]]) });
    expect(timeline.over(1_000, 1_600)).toEqual({ idle: 80 / 120, threads: new Map([[7, 260 / 600]]) });
    // No reading before it, or none after it: nothing to tell.
    expect(timeline.over(900, 1_500)).toBeNull();
    expect(timeline.over(1_100, 1_700)).toBeNull();
  });

  it("reads a real process: a busy loop keeps its main thread on a core", async () => {
    const script = "console.log('ready'); const end = Date.now() + 4000; while (Date.now() < end);";
    const busy = startNode("busy", ["-e", script], {}, logDir);
    await busy.waitFor(/ready/, 10_000);
    const timeline = new CpuTimeline(100);
    timeline.watch(busy.pid);
    const from = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const to = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const read = timeline.over(from, to);
    timeline.stop();
    await busy.stop();
    // A core to itself on an idle machine; a share of one under the test suite's load (two cores
    // shared with the whole suite, a benchmark included: 0.25 was seen to fail there).
    expect(read?.threads.get(busy.pid as number)).toBeGreaterThan(0.1);
    expect(read?.idle).toBeGreaterThanOrEqual(0);
    expect(read?.idle).toBeLessThan(1);
  });
});

describe("cpuSnapshot of a process tree", () => {
  it("counts the CPU of the processes a process started, not only its own", async () => {
    // An idle parent whose child spins: the parent alone has next to no CPU, its tree a busy core's.
    const child = "const end = Date.now() + 3000; while (Date.now() < end);";
    const script = `const { spawn } = require("node:child_process");
      const c = spawn(process.execPath, ["-e", ${JSON.stringify(child)}], { stdio: "ignore" });
      console.log("ready " + c.pid); c.on("exit", () => process.exit(0));`;
    const parent = startNode("tree", ["-e", script], {}, logDir);
    const [, childPid] = await parent.waitFor(/ready (\d+)/, 10_000);
    expect(processTree(parent.pid as number)).toEqual([parent.pid, Number(childPid)]);
    const snap = cpuSnapshot({ alone: { pid: parent.pid }, tree: { tree: parent.pid } });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const used = snap.since();
    await parent.stop();
    // The busy child has a core's share even on a loaded machine; the idle parent next to none.
    expect(used.alone).toBeLessThan(50);
    expect(used.tree).toBeGreaterThan(100);
  });
});
