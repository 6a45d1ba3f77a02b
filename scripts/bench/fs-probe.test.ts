import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { probeFileCreation } from "./fs-probe";

describe("the bench's file-creation probe", () => {
  it("creates its files and leaves them in place: deleting them would slow the creations after it", async () => {
    const root = await mkdtemp(path.join(tmpdir(), "darkroom-fs-probe-"));
    onTestFinished(() => rm(root, { recursive: true, force: true }));
    const dir = path.join(root, "probe-0");
    const micros = probeFileCreation(dir, 25);
    expect(Number.isFinite(micros)).toBe(true);
    expect(micros).toBeGreaterThan(0);
    const names = await readdir(dir);
    expect(names).toHaveLength(25);
    const first = await stat(path.join(dir, names[0] as string));
    expect(first.size).toBe(4096);
    expect(first.mode & 0o777).toBe(0o600);
  });
});
