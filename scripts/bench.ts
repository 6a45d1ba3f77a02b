// npm run bench: throughput, latency and memory of the whole system on this machine, printed as a
// table. It uses the local Postgres and Redis (a database and queue prefix of its own) and the
// simulator as the upstream. Figures go in docs/benchmarks.md.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { prepareTemplateDatabase, readSse, STACK_ADMIN_TOKEN, type Stack, startStack } from "@darkroom/testing";

const { values } = parseArgs({ options: { jobs: { type: "string", default: "300" } } });
const JOBS = Number(values.jobs);
const rows: [string, string, string][] = [];
const record = (name: string, value: string, detail: string) => {
  rows.push([name, value, detail]);
  console.error(`${name}: ${value} (${detail})`);
};

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
const summary = (ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  return `p50 ${pct(s, 50).toFixed(0)} ms, p95 ${pct(s, 95).toFixed(0)} ms, p99 ${pct(s, 99).toFixed(0)} ms`;
};

async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await task(i);
      }
    }),
  );
  return out;
}

function rssMb(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function createJobs(stack: Stack, key: string, count: number, prompt: string, concurrency: number) {
  const latencies: number[] = [];
  const started = Date.now();
  const ids = await pool(count, concurrency, async (i) => {
    const t = performance.now();
    const res = await fetch(`${stack.apiUrl}/v1/jobs`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ prompt: `${prompt} #${i}` }),
    });
    latencies.push(performance.now() - t);
    if (res.status !== 202) throw new Error(`create answered ${res.status}`);
    return ((await res.json()) as { id: string }).id;
  });
  return { ids, latencies, seconds: (Date.now() - started) / 1000 };
}

async function waitAll(stack: Stack, key: string, ids: string[]) {
  const done = new Map<string, { created_at: string; finished_at: string; status: string }>();
  while (done.size < ids.length) {
    const res = await fetch(`${stack.apiUrl}/v1/jobs?limit=100&status=succeeded`, {
      headers: { authorization: `Bearer ${key}` },
    });
    let page = (await res.json()) as {
      data: { id: string; created_at: string; finished_at: string; status: string }[];
      next_cursor: string | null;
    };
    for (;;) {
      for (const j of page.data) if (ids.includes(j.id)) done.set(j.id, j);
      if (page.next_cursor === null || done.size >= ids.length) break;
      page = (await (
        await fetch(`${stack.apiUrl}/v1/jobs?limit=100&status=succeeded&cursor=${page.next_cursor}`, {
          headers: { authorization: `Bearer ${key}` },
        })
      ).json()) as typeof page;
    }
    if (done.size < ids.length) await new Promise((r) => setTimeout(r, 500));
  }
  return [...done.values()];
}

/** Another API key of the tenant that owns `key` (through the admin API). */
async function addKey(stack: Stack, key: string): Promise<string> {
  const admin = { authorization: `Bearer ${STACK_ADMIN_TOKEN}`, "content-type": "application/json" };
  const tenants = (await (await fetch(`${stack.apiUrl}/admin/api/tenants`, { headers: admin })).json()) as {
    data: { id: string }[];
  };
  for (const tenant of tenants.data) {
    const listed = (await (
      await fetch(`${stack.apiUrl}/admin/api/tenants/${tenant.id}/keys`, { headers: admin })
    ).json()) as { data: { prefix: string }[] };
    if (!listed.data.some((k) => key.startsWith(k.prefix))) continue;
    const res = await fetch(`${stack.apiUrl}/admin/api/tenants/${tenant.id}/keys`, {
      method: "POST",
      headers: admin,
      body: JSON.stringify({ name: "bench" }),
    });
    return ((await res.json()) as { api_key: string }).api_key;
  }
  throw new Error("the key's tenant was not found");
}

await prepareTemplateDatabase();

// 1. The API alone: job creation (a transaction, an event, an enqueue) under 32 concurrent clients.
{
  const stack = await startStack({ label: "bench-api", workers: 0 });
  try {
    const key = await stack.newApiKey();
    await createJobs(stack, key, 50, "warm-up", 8);
    const run = await createJobs(stack, key, JOBS * 4, "create", 32);
    record(
      "POST /v1/jobs throughput",
      `${((JOBS * 4) / run.seconds).toFixed(0)} req/s`,
      `${JOBS * 4} jobs, 32 concurrent clients`,
    );
    record("POST /v1/jobs latency", summary(run.latencies).split(",")[1]?.trim() ?? "", summary(run.latencies));
    record("API RSS after", `${rssMb(stack.api.child.pid).toFixed(0)} MB`, "one API process");
  } finally {
    await stack.stop();
  }
}

// 2. End to end through one worker: the simulator streams fast, so this measures Darkroom's own overhead.
{
  const stack = await startStack({ label: "bench-e2e", simulatorStepMs: 1, env: { WORKER_CONCURRENCY: "50" } });
  try {
    const key = await stack.newApiKey();
    const started = Date.now();
    const { ids } = await createJobs(stack, key, JOBS, "e2e [[sim step_ms=1 ping_ms=0]]", 16);
    const jobs = await waitAll(stack, key, ids);
    const seconds = (Date.now() - started) / 1000;
    const durations = jobs.map((j) => new Date(j.finished_at).getTime() - new Date(j.created_at).getTime());
    record("end-to-end throughput", `${(JOBS / seconds).toFixed(1)} jobs/s`, `${JOBS} jobs, 1 worker, concurrency 50`);
    record("end-to-end job duration", summary(durations).split(",")[1]?.trim() ?? "", summary(durations));
    record("worker RSS after", `${rssMb(stack.workers[0]?.child.pid).toFixed(0)} MB`, `after ${JOBS} jobs`);
  } finally {
    await stack.stop();
  }
}

// 3. Memory with 50 streams in flight, and SSE fan-out: 200 clients following one job.
{
  const stack = await startStack({ label: "bench-mem", simulatorStepMs: 100, env: { WORKER_CONCURRENCY: "50" } });
  try {
    const key = await stack.newApiKey();
    const worker = stack.workers[0];
    const idle = rssMb(worker?.child.pid);
    const { ids } = await createJobs(stack, key, 50, "mem [[sim step_ms=150]]", 16);
    let peak = idle;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMb(worker?.child.pid));
    }, 100);
    const followed = ids[0] ?? "";
    // MAX_STREAMS_PER_KEY (100) caps one key's streams: the 200 clients share four keys of the tenant.
    const keys = [key, ...(await Promise.all([1, 2, 3].map(() => addKey(stack, key))))];
    const clients = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        readSse(`${stack.apiUrl}/v1/jobs/${followed}/events`, {
          headers: { authorization: `Bearer ${keys[i % keys.length]}` },
          timeoutMs: 120_000,
        }),
      ),
    );
    clearInterval(sampler);
    await waitAll(stack, key, ids);
    record(
      "worker RSS, 50 streams in flight",
      `${peak.toFixed(0)} MB peak`,
      `${idle.toFixed(0)} MB idle, ${((peak - idle) / 50).toFixed(2)} MB per stream`,
    );
    const complete = clients.filter((c) => c.endedByServer && c.events.at(-1)?.event === "job.succeeded").length;
    const counts = new Set(clients.map((c) => c.events.length));
    record(
      "SSE fan-out",
      `${complete}/200 clients complete`,
      `every client got ${[...counts].join("/")} events, one job, one API process`,
    );
  } finally {
    await stack.stop();
  }
}

const width = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]?.length ?? 0), 6));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(width[i] ?? 0)).join(" | ")} |`;
console.log(
  [line(["measure", "value", "detail"]), `|${width.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join(
    "\n",
  ),
);
