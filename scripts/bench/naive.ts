// The naive pipeline of the drain scenario, in a process of its own: per job one INSERT and one
// BullMQ add (the backlog), then a BullMQ worker that reads the stand-in's chat stream (10
// progress chunks), writes each progress number with its own UPDATE (unless NAIVE_PROGRESS=0),
// and marks the job done with a final UPDATE. One variant per process, so that each starts cold as
// Darkroom's worker does: prints `{"phase":"enqueued","variant":…}` once its backlog is in, drains
// it on a `go` line on stdin, prints the result as one JSON line, and on `next` empties its queue
// and exits.
import { randomUUID } from "node:crypto";
import { createInterface } from "node:readline";
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import pg from "pg";
import { steadyWindow } from "./stats";

const jobs = Number(process.env.NAIVE_JOBS ?? 100);
const concurrency = Number(process.env.NAIVE_CONCURRENCY ?? 50);
const progress = process.env.NAIVE_PROGRESS !== "0";
const upstream = process.env.UPSTREAM_URL ?? "";
const prefix = process.env.QUEUE_PREFIX ?? "bench";

const db = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 20 });
await db.query(
  "CREATE TABLE IF NOT EXISTS naive_jobs (id uuid PRIMARY KEY, status text NOT NULL, progress int NOT NULL DEFAULT 0, started_at timestamptz, finished_at timestamptz)",
);
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
const lines = createInterface({ input: process.stdin });
/** Resolves when stdin brings the line `word`. */
function nextLine(word: string): Promise<void> {
  return new Promise((resolve) => {
    const onLine = (line: string) => {
      if (line.trim() !== word) return;
      lines.off("line", onLine);
      resolve();
    };
    lines.on("line", onLine);
  });
}

async function run(progress: boolean): Promise<void> {
  const variant = progress ? "progress" : "plain";
  const queueName = `naive-${randomUUID().slice(0, 8)}`;
  const queue = new Queue(queueName, { connection, prefix });
  for (let i = 0; i < jobs; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, jobs - i) }, async () => {
        const id = randomUUID();
        await db.query("INSERT INTO naive_jobs (id, status) VALUES ($1, 'queued')", [id]);
        await queue.add("job", { id }, { jobId: id, removeOnComplete: true });
      }),
    );
  }
  console.log(JSON.stringify({ phase: "enqueued", variant }));
  await nextLine("go");

  let firstStart = Number.POSITIVE_INFINITY;
  let lastFinish = 0;
  let done = 0;
  let failed = 0;
  const finishes: number[] = [];
  const errors: string[] = [];
  const finished = new Promise<void>((resolve) => {
    const worker = new Worker(
      queueName,
      async (job) => {
        const id = (job.data as { id: string }).id;
        firstStart = Math.min(firstStart, Date.now());
        await db.query("UPDATE naive_jobs SET status = 'running', started_at = now() WHERE id = $1", [id]);
        const res = await fetch(`${upstream}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "text/event-stream" },
          body: JSON.stringify({
            model: "gpt-4o-image",
            stream: true,
            messages: [{ role: "user", content: "naive [[bench steps=10 step_ms=0]]" }],
          }),
        });
        if (res.body === null) throw new Error(`upstream answered ${res.status} without a body`);
        const decoder = new TextDecoder();
        let buffer = "";
        let chunks = 0;
        for await (const piece of res.body) {
          buffer += decoder.decode(piece as Uint8Array, { stream: true });
          let end = buffer.indexOf("\n\n");
          while (end !== -1) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            end = buffer.indexOf("\n\n");
            const value = /"content":"(\d+)\."/.exec(frame)?.[1];
            if (value === undefined) continue;
            chunks += 1;
            if (progress) await db.query("UPDATE naive_jobs SET progress = $2 WHERE id = $1", [id, Number(value)]);
          }
        }
        if (chunks !== 10) throw new Error(`read ${chunks} progress chunks, expected 10`);
        await db.query(
          "UPDATE naive_jobs SET status = 'succeeded', progress = 100, finished_at = now() WHERE id = $1",
          [id],
        );
        finishes.push(Date.now());
      },
      { connection: new Redis(redisUrl, { maxRetriesPerRequest: null }), prefix, concurrency },
    );
    const settle = () => {
      lastFinish = Math.max(lastFinish, Date.now());
      if (done + failed === jobs) {
        void worker.close().then(() => resolve());
      }
    };
    worker.on("completed", () => {
      done += 1;
      settle();
    });
    worker.on("failed", (_job, error) => {
      failed += 1;
      if (errors.length < 5) errors.push(error.message);
      settle();
    });
  });
  await finished;
  const seconds = (lastFinish - firstStart) / 1000;
  console.log(
    JSON.stringify({
      phase: "result",
      variant,
      jobs,
      succeeded: done,
      failed,
      errors,
      seconds,
      rate: jobs / seconds,
      // Its rate, and its bounds (epoch ms), over which the bench reads the machine's CPU.
      steadyWindow: steadyWindow(finishes),
    }),
  );
  // The bench reads this process's CPU (and its Postgres backends') before it lets it go on.
  await nextLine("next");
  await queue.obliterate({ force: true });
  await queue.close();
}

await run(progress);
await db.end();
connection.disconnect();
lines.close();
process.exit(0);
