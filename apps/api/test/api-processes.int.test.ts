import { request } from "node:http";
import { createServer, type Server } from "node:net";
import { isProcessAlive } from "@darkroom/domain";
import {
  API_LISTENING,
  childPids,
  type RunningProcess,
  type Stack,
  startProcess,
  startStack,
  until,
} from "@darkroom/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

// API_PROCESSES > 1: a primary forks that many API processes sharing one port (node:cluster).

/**
 * One request on a connection of its own (no keep-alive), so that node:cluster hands each one to
 * the next process in turn.
 */
function send(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      {
        method,
        agent: false,
        headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe("API_PROCESSES", () => {
  let stack: Stack;
  const started: RunningProcess[] = [];

  beforeAll(async () => {
    stack = await startStack({ label: "api-processes", workers: 0 });
  }, 60_000);
  afterEach(async () => {
    await Promise.all(started.splice(0).map((p) => p.stop("SIGKILL")));
  });
  afterAll(async () => {
    await stack?.stop();
  });

  async function startCluster(env: Record<string, string> = stack.env) {
    const api = startProcess("api.js", { ...env, API_PROCESSES: "2" });
    started.push(api);
    const [, port] = await api.waitFor(API_LISTENING, 30_000);
    const children = childPids(api.child.pid as number);
    return { api, url: `http://127.0.0.1:${port}`, children };
  }

  it("serves one port from that many processes, with one admin token and /metrics summed over them", async () => {
    const { ADMIN_TOKEN: _, ...noToken } = stack.env;
    const { api, url, children } = await startCluster(noToken);
    expect(children).toHaveLength(2);
    // Development without ADMIN_TOKEN: the primary makes one up for every process, printed once.
    const printed = api.output().match(/ADMIN_TOKEN for this run \(set ADMIN_TOKEN to choose one\): (\S+)/g) ?? [];
    expect(printed).toHaveLength(1);
    const token = printed[0]?.split(": ")[1] ?? "";
    const admin = { authorization: `Bearer ${token}` };
    const keys = await Promise.all(
      Array.from({ length: 6 }, (_, i) => send(url, "POST", "/admin/api/keys", admin, { name: `t${i}` })),
    );
    expect(keys.map((k) => k.status)).toEqual([201, 201, 201, 201, 201, 201]);
    const apiKey = (JSON.parse(keys[0]?.text ?? "{}") as { api_key: string }).api_key;
    const jobs = [];
    for (let i = 0; i < 10; i++) {
      jobs.push(await send(url, "POST", "/v1/jobs", { authorization: `Bearer ${apiKey}` }, { prompt: `p${i}` }));
    }
    expect(jobs.map((j) => j.status)).toEqual(Array(10).fill(202));
    // Every scrape answers for all the processes, whichever one takes it.
    for (let i = 0; i < 3; i++) {
      const metrics = await send(url, "GET", "/metrics", {});
      expect(metrics.status).toBe(200);
      expect(metrics.text).toMatch(/^darkroom_jobs_created_total 10$/m);
      // Shared state is read once, not once per process.
      expect(metrics.text).toMatch(/^darkroom_jobs\{status="queued"\} 10$/m);
    }
  }, 60_000);

  it("one process (the default) prints the admin token it made up once, and takes it", async () => {
    const { ADMIN_TOKEN: _, ...noToken } = stack.env;
    const api = startProcess("api.js", noToken);
    started.push(api);
    const [, port] = await api.waitFor(API_LISTENING, 30_000);
    expect(childPids(api.child.pid as number)).toEqual([]);
    const printed = api.output().match(/ADMIN_TOKEN for this run \(set ADMIN_TOKEN to choose one\): (\S+)/g) ?? [];
    expect(printed).toHaveLength(1);
    const token = printed[0]?.split(": ")[1] ?? "";
    const key = await send(
      `http://127.0.0.1:${port}`,
      "POST",
      "/admin/api/keys",
      { authorization: `Bearer ${token}` },
      {
        name: "one",
      },
    );
    expect(key.status).toBe(201);
  }, 60_000);

  it("replaces a process that dies, serving meanwhile from the others", async () => {
    const { api, url, children } = await startCluster();
    const [victim, survivor] = children as [number, number];
    process.kill(victim, "SIGKILL");
    await until("the victim's end", () => (isProcessAlive(victim) ? undefined : true));
    const answers = await Promise.all(Array.from({ length: 6 }, () => send(url, "GET", "/healthz", {})));
    expect(answers.map((a) => a.status)).toEqual(Array(6).fill(200));
    const replaced = await until(
      "a replacement",
      () => {
        const now = childPids(api.child.pid as number);
        return now.length === 2 && !now.includes(victim) ? now : undefined;
      },
      15_000,
    );
    expect(replaced).toContain(survivor);
    await api.waitFor(/an api process exited; starting another/);
  }, 60_000);

  it("stops every process on SIGTERM and exits 0", async () => {
    const { api, children } = await startCluster();
    expect(await api.stop("SIGTERM")).toBe(0);
    expect(children.filter(isProcessAlive)).toEqual([]);
  }, 60_000);

  it("exits 1, its processes with it, when one cannot start (the port is taken)", async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const api = startProcess("api.js", { ...stack.env, API_PROCESSES: "2", PORT: String(port) });
      started.push(api);
      const code = await new Promise<number | null>((resolve) => api.child.on("exit", resolve));
      expect(code).toBe(1);
      expect(api.output()).toContain("an api process failed to start; stopping the others");
      expect(api.output()).toContain("EADDRINUSE");
    } finally {
      taken.close();
    }
  }, 60_000);

  it("ends its processes when the primary is killed", async () => {
    const { api, children } = await startCluster();
    api.child.kill("SIGKILL");
    await until("the processes' end", () => (children.some(isProcessAlive) ? undefined : true));
  }, 60_000);
});
