import { type Stack, startStack, until } from "@darkroom/testing";
import { afterEach, describe, expect, it } from "vitest";
import { on, prompts } from "./fair-api";
import { upstreamCalls } from "./support";

// Fair scheduling end to end: API and worker processes, the simulator, Postgres and Redis. Jobs
// wait in their tenants' intakes and the workers admit them as slots free (issue 9).

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

describe("fair scheduling", () => {
  it("shares saturated workers by weight: completions split 2:1 within 20 %", { timeout: 60_000 }, async () => {
    stack = await startStack({ label: "weights", env: { WORKER_CONCURRENCY: "6" } });
    const api = on(stack);
    const a = await api.tenant({ weight: 2 });
    const b = await api.tenant({ weight: 1 });
    const directive = "[[sim ttfb_ms=400 step_ms=1]]";
    // B's jobs are all older than A's: a plain FIFO would run B's first and A's after.
    await api.submit(b.key, prompts(90, `${directive} b`));
    await api.submit(a.key, prompts(90, `${directive} a`));
    const counts = async () => {
      const [ad, bd] = await Promise.all([api.all(a.key, "succeeded"), api.all(b.key, "succeeded")]);
      return { a: ad.length, b: bd.length };
    };
    // Measured after a warm-up: the first slots go to whichever tenant's jobs arrived first.
    const start = await until(
      "the warm-up",
      async () => {
        const c = await counts();
        return c.a + c.b >= 12 ? c : undefined;
      },
      30_000,
    );
    const end = await until(
      "45 more jobs finished",
      async () => {
        const c = await counts();
        return c.a + c.b >= start.a + start.b + 45 ? c : undefined;
      },
      40_000,
    );
    const done = { a: end.a - start.a, b: end.b - start.b };
    const ratio = done.a / done.b;
    expect(ratio).toBeGreaterThan(2 * 0.8);
    expect(ratio).toBeLessThan(2 * 1.2);
  });

  it("never runs more than max_concurrency 3 of a tenant across two workers, and keeps 3 running", {
    timeout: 60_000,
  }, async () => {
    stack = await startStack({ label: "cap", workers: 2, env: { WORKER_CONCURRENCY: "4" } });
    const api = on(stack);
    const capped = await api.tenant({ max_concurrency: 3 });
    const other = await api.tenant();
    const jobs = await api.submit(capped.key, prompts(18, "[[sim ttfb_ms=500 step_ms=1]] capped"));
    // Another tenant's work takes the slots the cap leaves.
    const others = await api.submit(other.key, prompts(10, "[[sim ttfb_ms=500 step_ms=1]] other"));
    const samples: number[] = [];
    let otherRanBeside = false;
    for (;;) {
      const [running, otherRunning] = await Promise.all([
        api.all(capped.key, "running"),
        api.all(other.key, "running"),
      ]);
      samples.push(running.length);
      if (running.length === 3 && otherRunning.length > 0) otherRanBeside = true;
      const left = await api.all(capped.key, "queued");
      if (left.length === 0 && running.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(Math.max(...samples)).toBe(3);
    // While its backlog lasted, the tenant kept its 3 slots busy (allowing for the moments between jobs).
    const busy = samples.slice(2, Math.floor(samples.length * 0.6));
    expect(busy.filter((n) => n === 3).length / busy.length).toBeGreaterThan(0.6);
    expect(otherRanBeside).toBe(true);
    const final = await Promise.all(jobs.map((job) => api.get(capped.key, job.id)));
    expect(final.every((job) => job.status === "succeeded")).toBe(true);
    expect(others).toHaveLength(10);
  });

  it("starts a high-priority job next, although 50 normal ones of the tenant were queued before it", {
    timeout: 60_000,
  }, async () => {
    stack = await startStack({ label: "prio", env: { WORKER_CONCURRENCY: "2" } });
    const api = on(stack);
    const t = await api.tenant();
    // 700 ms each on two slots: the 48 waiting ones outlast the 10 s the estimate of a model
    // without history is cached, so the last of them still waits when its estimate comes.
    const normal = await api.submit(t.key, prompts(50, "[[sim ttfb_ms=700 step_ms=1]] normal"));
    await until("two normal jobs run", async () => ((await api.all(t.key, "running")).length === 2 ? true : undefined));
    const [high] = await api.submit(t.key, [
      { ...prompts(1, "[[sim ttfb_ms=300 step_ms=1]] high")[0], priority: "high" },
    ]);
    if (high === undefined) throw new Error("no job");
    expect(high.priority).toBe("high");
    // It is first in line at once, ahead of the 48 normal ones still waiting.
    expect(high.progress.queue_position).toBe(1);
    const started = await until("the high job started", async () => {
      const job = await api.get(t.key, high.id);
      return job.started_at !== null ? job : undefined;
    });
    const normals = await Promise.all(normal.map((job) => api.get(t.key, job.id)));
    // Normal jobs that started between its creation and its start. Only work admitted before it
    // reached the intake can be among them (a slot that freed while it was being created): at most
    // the two slots. Without priority, the 48 normal jobs waiting ahead of it would all start first.
    const overtook = normals.filter(
      (job) =>
        job.started_at !== null &&
        Date.parse(job.started_at) >= Date.parse(high.created_at) &&
        Date.parse(job.started_at) < Date.parse(started.started_at ?? ""),
    );
    expect(overtook.length, `normal jobs that started after it was created and before it`).toBeLessThanOrEqual(2);
    // A queued normal job is behind it in line, and once jobs of the model finished it has an estimate.
    // (A job admitted a moment ago is still `queued` but no longer in the intake: no position.)
    const waiting = normals.filter((job) => job.status === "queued" && job.progress.queue_position !== null);
    const positions = waiting.map((job) => job.progress.queue_position ?? 0);
    expect(positions.length).toBeGreaterThan(10);
    expect(Math.min(...positions)).toBeGreaterThanOrEqual(1);
    const last = await api.get(t.key, normal.at(-1)?.id ?? "");
    expect(last.progress.queue_position).toBeGreaterThan(10);
    await until("a finished job gives the model a history", async () =>
      (await api.all(t.key, "succeeded")).length > 0 ? true : undefined,
    );
    // (The estimate is cached per model for 10 s; the first answers may predate the history.)
    const estimated = await until(
      "an estimate",
      async () => {
        const job = await api.get(t.key, normal.at(-1)?.id ?? "");
        return job.progress.eta_seconds !== null ? job : undefined;
      },
      30_000,
    );
    expect(estimated.progress.eta_seconds).toBeGreaterThan(0);
  });
});

describe("admission survives its admitter's crash", () => {
  it("an admitter killed between choosing work and adding it loses nothing and runs nothing twice", {
    timeout: 60_000,
  }, async () => {
    stack = await startStack({
      label: "admitkill",
      workers: 0,
      env: { WORKER_CONCURRENCY: "4", RECONCILE_INTERVAL_MS: "500" },
    });
    const api = on(stack);
    const t = await api.tenant();
    // The doomed worker is the only one: it chooses the first four and dies before adding them.
    const doomed = await stack.addWorker({ NODE_ENV: "test", TEST_FAULT: "kill_after_admit" });
    const jobs = await api.submit(t.key, prompts(20, "[[sim step_ms=2]] crash"));
    await until("the admitter died", async () =>
      doomed.child.exitCode !== null || doomed.child.signalCode !== null ? true : undefined,
    );
    expect(doomed.child.signalCode).toBe("SIGKILL");
    await stack.addWorker();
    const final = await until(
      "every job ended",
      async () => {
        const all = await Promise.all(jobs.map((job) => api.get(t.key, job.id)));
        return all.every((job) => job.status === "succeeded") ? all : undefined;
      },
      40_000,
    );
    // Each ran exactly once: one attempt, one upstream call.
    expect(final.map((job) => job.attempts.map((a) => a.status))).toEqual(final.map(() => ["succeeded"]));
    for (const job of jobs) {
      const prompt = (job as unknown as { prompt: string }).prompt;
      expect(upstreamCalls(stack, prompt)).toHaveLength(1);
    }
    // The chosen-but-never-added work came back through the reconciler's sweep.
    await expect
      .poll(() => stack?.workers.at(-1)?.output(), { timeout: 5_000 })
      .toMatch(/re-added an admission whose BullMQ job was lost/);
  });

  it("a worker killed (kill -9) while jobs wait: every job still succeeds exactly once", {
    timeout: 60_000,
  }, async () => {
    stack = await startStack({
      label: "workerkill",
      workers: 2,
      env: { WORKER_CONCURRENCY: "3", RECONCILE_INTERVAL_MS: "500", JOB_LEASE_MS: "3000" },
    });
    const api = on(stack);
    const t = await api.tenant();
    const jobs = await api.submit(t.key, prompts(30, "[[sim ttfb_ms=200 step_ms=2]] kill"));
    await until("some finished", async () => ((await api.all(t.key, "succeeded")).length >= 3 ? true : undefined));
    const victim = stack.workers[0];
    victim?.child.kill("SIGKILL");
    const final = await until(
      "every job ended",
      async () => {
        const all = await Promise.all(jobs.map((job) => api.get(t.key, job.id)));
        return all.every((job) => job.status === "succeeded") ? all : undefined;
      },
      45_000,
    );
    // One success each; attempts cut by the kill end as interrupted, never as a second success.
    for (const job of final) expect(job.attempts.filter((a) => a.status === "succeeded")).toHaveLength(1);
  });
});
