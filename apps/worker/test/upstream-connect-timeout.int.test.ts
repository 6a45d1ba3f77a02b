import net from "node:net";
import { Worker } from "node:worker_threads";
import { type Stack, startStack } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, operatorAttempts, uniquePrompt } from "./support";

// UPSTREAM_CONNECT_TIMEOUT_MS through the whole system. Only loopback traffic is allowed, so the
// upstream is a local listener whose TCP connect hangs: it listens with a backlog of 1 on a thread
// whose event loop is blocked (nothing ever accepts), and two connections fill its accept queue.
// Linux then drops every further SYN, so a connect neither succeeds nor is refused.
const CONNECT_TIMEOUT_MS = 500;
const FIRST_BYTE_TIMEOUT_MS = 20_000;

const LISTENER = `
const { workerData, parentPort } = require("node:worker_threads");
const server = require("node:net").createServer();
server.listen({ host: "127.0.0.1", port: 0, backlog: 1 }, () => {
  parentPort.postMessage(server.address().port);
  Atomics.wait(new Int32Array(workerData), 0, 0);
  server.close();
});`;

/** Connects to the port; "hung" when neither a connection nor an error came within `ms`. */
function tryConnect(port: number, ms: number): Promise<net.Socket | "hung" | "error"> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const timer = setTimeout(() => {
      socket.destroy();
      resolve("hung");
    }, ms);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("error", () => {
      clearTimeout(timer);
      resolve("error");
    });
  });
}

const release = new Int32Array(new SharedArrayBuffer(4));
let listener: Worker;
const fillers: net.Socket[] = [];
let probe: Awaited<ReturnType<typeof tryConnect>>;
let stack: Stack;
let api: ReturnType<typeof client>;
beforeAll(async () => {
  listener = new Worker(LISTENER, { eval: true, workerData: release.buffer });
  const port = await new Promise<number>((resolve) => listener.once("message", resolve));
  for (let i = 0; i < 4; i++) {
    const socket = await tryConnect(port, 300);
    if (typeof socket === "string") break;
    fillers.push(socket);
  }
  probe = await tryConnect(port, 1000);
  stack = await startStack({
    label: "connect",
    simulatorStepMs: 5,
    env: {
      COMETAPI_BASE_URL: `http://127.0.0.1:${port}`,
      UPSTREAM_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
      UPSTREAM_FIRST_BYTE_TIMEOUT_MS: String(FIRST_BYTE_TIMEOUT_MS),
      RETRY_BASE_DELAY_MS: "20",
    },
  });
  api = client(stack, await stack.newApiKey());
});
afterAll(async () => {
  await stack?.stop();
  for (const socket of fillers) socket.destroy();
  Atomics.store(release, 0, 1);
  Atomics.notify(release, 0);
  await listener?.terminate();
});

describe("connect timeout", () => {
  it("gives up each connect after UPSTREAM_CONNECT_TIMEOUT_MS (not the first-byte timeout), retries, falls back, fails upstream_timeout", async () => {
    // The set-up really makes connects hang (else this would test a refused connection).
    expect(fillers.length).toBeGreaterThanOrEqual(1);
    expect(probe).toBe("hung");

    const created = await api.create({ prompt: uniquePrompt("") });
    const job = await api.waitTerminal(created.id, 20_000);
    expect(job.status).toBe("failed");
    expect(job.error?.code).toBe("upstream_timeout");
    // Row 11: a failure before any response byte is retried twice, then the fallback is tried.
    expect(job.attempts.map((a) => `${a.model}:${a.status}:${a.error?.code}:${a.error?.class}`)).toEqual([
      "gpt-4o-image:failed:upstream_timeout:network",
      "gpt-4o-image:failed:upstream_timeout:network",
      "gpt-4o-image:failed:upstream_timeout:network",
      "gpt-image-1:failed:upstream_timeout:network",
    ]);
    const details = (await operatorAttempts(stack, created.id)).map((a) => a.upstream_detail);
    for (const [i, attempt] of (job.attempts as (JobAttempt & (typeof job.attempts)[number])[]).entries()) {
      // undici names the timeout it applied (operators read it; tenants see Darkroom's words); its
      // timers add up to ~500 ms of their own.
      expect(details[i]).toMatch(new RegExp(`connect timeout.*timeout: ${CONNECT_TIMEOUT_MS}ms`, "i"));
      expect(attempt.error?.message).toBe("The upstream did not answer in time.");
      expect(attempt.error?.http_status).toBeNull();
      const tookMs = Date.parse(attempt.finished_at) - Date.parse(attempt.started_at);
      expect(tookMs).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 50);
      expect(tookMs).toBeLessThan(CONNECT_TIMEOUT_MS + 2500);
    }
  });
});

interface JobAttempt {
  started_at: string;
  finished_at: string;
  error: { message: string; http_status: number | null } | null;
}
