// The tiny profile of `npm run bench`: the same script at small sizes against this run's build,
// so that no scenario or measurement of the benchmark can rot. Its figures are not judged, only
// that each scenario ran and measured something sane.
import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { REPO_ROOT } from "@darkroom/testing";
import { afterAll, describe, expect, it } from "vitest";
import { GENERATED_END, GENERATED_START, GOAL_IDS } from "./bench/report";

const TINY = [
  ["--runs", "1"],
  ["--submits", "200"],
  // Twenty waves of ten: the steady rate needs the 20 % and 90 % finishes at distinct instants, and
  // a batched completion gives every job of its batch the same finishedAt (one wave of 50 at
  // concurrency 50 could end in one batch: the rate was then NaN and the test failed now and then).
  ["--drain-jobs", "200"],
  ["--drain-concurrency", "10"],
  ["--streams", "20"],
  ["--stream-seconds", "2"],
  ["--latency-jobs", "20"],
  ["--latency-clients", "10"],
  // Eight steps, not four: only chunks sent while (nearly) all 20 jobs run count, and under the
  // suite's load the jobs start spread out; with 2 s streams that plateau once held 9 samples of 40.
  ["--latency-steps", "8"],
  ["--latency-step-ms", "500"],
].flat();

interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

let dir = "";
afterAll(async () => {
  if (dir !== "") await rm(dir, { recursive: true, force: true });
});

function runBench(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(REPO_ROOT, "scripts", "bench.ts"), ...args], {
      cwd: REPO_ROOT,
      env: process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    child.on("exit", (code) => resolve({ code, output }));
  });
}

describe("npm run bench, tiny profile", () => {
  it("runs every scenario and writes sane figures to the JSON and the document", { timeout: 120_000 }, async () => {
    dir = await mkdtemp(path.join(tmpdir(), "darkroom-bench-test-"));
    const json = path.join(dir, "latest.json");
    const doc = path.join(dir, "performance.md");
    // The hand-written parts around the generated block are kept; the block is replaced.
    await writeFile(
      doc,
      `# Perf\n\nhand-written before\n\n${GENERATED_START}\nstale figures\n${GENERATED_END}\n\nhand-written after\n`,
    );
    const cpuProfiles = path.join(dir, "cpu");
    const allocProfiles = path.join(dir, "alloc");
    const { code, output } = await runBench(
      [...TINY, ["--json", json, "--doc", doc, "--cpu-prof", cpuProfiles, "--alloc-prof", allocProfiles]].flat(),
    );
    expect(code, output).toBe(0);
    const result = JSON.parse(await readFile(json, "utf8"));
    const { submit, drain, inflight, latency, cpu } = result.scenarios;
    const positive = (s: Spread) => Number.isFinite(s.median) && s.median > 0 && s.runs.length === 1;

    // 1. submit, beside the baseline
    expect(submit.runs).toHaveLength(1);
    expect(submit.runs[0].darkroom.requests).toBeGreaterThanOrEqual(200);
    expect(submit.runs[0].darkroom.errors + submit.runs[0].darkroom.non2xx).toBe(0);
    expect(submit.runs[0].baseline.requests).toBeGreaterThanOrEqual(200);
    for (const key of ["darkroomRps", "darkroomP50", "darkroomP99", "baselineRps", "baselineP99", "ratio"]) {
      expect(positive(submit.summary[key]), key).toBe(true);
    }
    // 2. drain: every job succeeded, beside both naive pipelines
    expect(drain.runs[0].darkroom).toMatchObject({ succeeded: 200, failed: 0 });
    expect(drain.runs[0].naive.failed).toBe(0);
    expect(drain.runs[0].naiveNoProgress.failed).toBe(0);
    for (const key of [
      "darkroomRate",
      "darkroomRateAll",
      "naiveRate",
      "naiveRateAll",
      "naiveNoProgressRate",
      "naiveNoProgressRateAll",
      "ratioNaive",
      "ratioNoProgress",
      "fileCreateUs",
    ]) {
      expect(positive(drain.summary[key]), key).toBe(true);
    }
    // read on the machine's CPU over each steady window: shares, in percent
    for (const key of ["darkroomIdle", "naiveNoProgressIdle", "darkroomMainThread", "naiveNoProgressMainThread"]) {
      expect(drain.summary[key].median, key).toBeGreaterThanOrEqual(0);
      expect(drain.summary[key].median, key).toBeLessThanOrEqual(key.endsWith("Idle") ? 100 : 200);
    }
    expect(drain.summary.darkroomMainThread.median).toBeGreaterThan(0);
    // 3. in flight: 20 streams of 2 s, each job at least as long as its stream
    // Under the suite's load a stream may end before the last one starts: most must overlap.
    expect(inflight.runs[0]).toMatchObject({ streams: 20, succeeded: 20, failed: 0 });
    expect(inflight.runs[0].peakRunning).toBeGreaterThanOrEqual(15);
    expect(inflight.runs[0].plateauRssKb).toBeGreaterThan(inflight.runs[0].idleRssKb / 2);
    expect(inflight.runs[0].lagSamples).toBeGreaterThan(0);
    expect(inflight.runs[0].commitsPerSecondWholeRun).toBeGreaterThan(0);
    expect(inflight.summary.stretchMedian.median).toBeGreaterThanOrEqual(1);
    expect(inflight.summary.stretchMax.median).toBeGreaterThanOrEqual(inflight.summary.stretchMedian.median);
    expect(Number.isFinite(inflight.summary.rssKbPerJob.median)).toBe(true);
    expect(inflight.summary.lagP99Ms.median).toBeGreaterThanOrEqual(inflight.summary.lagP50Ms.median);
    // 4. progress latency: stand-in send -> SSE receive, from the 10 followed jobs
    expect(latency.runs[0]).toMatchObject({ jobs: 20, clients: 10, failed: 0 });
    expect(latency.runs[0].inFlight).toBeGreaterThanOrEqual(15);
    expect(latency.summary.samples.median).toBeGreaterThanOrEqual(10);
    expect(latency.summary.p50Ms.median).toBeGreaterThan(0);
    expect(latency.summary.p99Ms.median).toBeGreaterThanOrEqual(latency.summary.p50Ms.median);
    // 5. CPU per job of every process, the stand-in's included
    for (const name of ["api", "worker", "postgres", "redis", "upstream"]) {
      expect(Number.isFinite(cpu["drain (per job): Darkroom"][name].median), name).toBe(true);
      expect(cpu["drain (per job): Darkroom"][name].median, name).toBeGreaterThanOrEqual(0);
    }
    expect(cpu["drain (per job): Darkroom"].worker.median).toBeGreaterThan(0);
    expect(cpu["submit (per request): Darkroom"].api.median).toBeGreaterThan(0);
    // every goal of the issue is judged
    expect(result.goals.map((g: { id: string }) => g.id)).toEqual(GOAL_IDS);
    for (const goal of result.goals) expect(typeof goal.met, goal.id).toBe("boolean");

    // --cpu-prof and --alloc-prof: every Darkroom process (APIs and workers) left both, in one
    // folder name per process.
    const processes = (await readdir(cpuProfiles)).sort();
    expect(processes.some((name) => name.startsWith("api-"))).toBe(true);
    expect(processes.some((name) => name.startsWith("worker-"))).toBe(true);
    expect((await readdir(allocProfiles)).sort()).toEqual(processes);
    for (const name of processes) {
      expect(await readdir(path.join(cpuProfiles, name)), name).toContainEqual(expect.stringMatching(/\.cpuprofile$/));
      expect(await readdir(path.join(allocProfiles, name)), name).toContainEqual(
        expect.stringMatching(/^\d+\.heapprofile$/),
      );
    }

    const text = await readFile(doc, "utf8");
    expect(text).toContain(GENERATED_START);
    expect(text).toContain(GENERATED_END);
    expect(text).toContain("progress latency p99 ms");
    expect(text).toContain("hand-written before");
    expect(text).toContain("hand-written after");
    expect(text).not.toContain("stale figures");
  });
});
