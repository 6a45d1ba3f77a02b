import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NodeProcess, startNode } from "./proc";
import { warmUpstream } from "./warm-up";

let logDir: string;
let upstream: NodeProcess;
let url: string;
beforeAll(async () => {
  logDir = await mkdtemp(path.join(tmpdir(), "darkroom-warm-up-test-"));
  upstream = startNode("upstream", ["--import", "tsx", path.join(import.meta.dirname, "upstream.ts")], {}, logDir);
  const [, port] = await upstream.waitFor(/bench upstream listening on port (\d+)/, 30_000);
  url = `http://127.0.0.1:${port}`;
}, 60_000);
afterAll(async () => {
  await upstream?.stop();
  await rm(logDir, { recursive: true, force: true });
});

const stats = async () => (await (await fetch(`${url}/bench/stats`)).json()) as { chats: number; images: number };

describe("the stand-in's warm-up", () => {
  it("runs every chat to its end and downloads the image each names, as a job does", async () => {
    const before = await stats();
    await warmUpstream(url, 30, 4);
    const after = await stats();
    expect(after.chats - before.chats).toBe(30);
    expect(after.images - before.images).toBe(30);
  });

  it("fails loudly when the stand-in does not answer as expected", async () => {
    await expect(warmUpstream(`${url}/nowhere`, 2, 1)).rejects.toThrow(/warm-up chat 0: HTTP 404/);
  });
});
