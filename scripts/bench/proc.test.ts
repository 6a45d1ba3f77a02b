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
});
