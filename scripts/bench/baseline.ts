// The bare baseline of the submit scenario: Express 5, one INSERT through pg and one BullMQ add
// per request, on the same machine and the same Postgres and Redis as Darkroom.
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { Queue } from "bullmq";
import express from "express";
import { Redis } from "ioredis";
import pg from "pg";

const db = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
await db.query(
  "CREATE TABLE IF NOT EXISTS bench_baseline (id uuid PRIMARY KEY, prompt text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())",
);
const connection = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { maxRetriesPerRequest: null });
const queue = new Queue("baseline", { connection, prefix: process.env.QUEUE_PREFIX ?? "bench" });

const app = express();
app.use(express.json());
app.post("/v1/jobs", async (req, res) => {
  const id = randomUUID();
  await db.query("INSERT INTO bench_baseline (id, prompt) VALUES ($1, $2)", [id, String(req.body?.prompt ?? "")]);
  await queue.add("job", { id }, { jobId: id });
  res.status(202).json({ id, status: "queued" });
});
const server = app.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  console.log(`baseline listening on port ${(server.address() as AddressInfo).port}`);
});
process.on("SIGTERM", () => {
  server.close();
  void Promise.all([queue.close(), db.end()]).finally(() => {
    connection.disconnect();
    process.exit(0);
  });
});
