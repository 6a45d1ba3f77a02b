import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startApiHarness } from "./harness";

/** Bull Board's page template lives in a folder of each API's own, for as long as the API runs. */

const saved = process.env.TMPDIR;
let folder = "";
afterEach(async () => {
  if (saved === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = saved;
  if (folder !== "") await rm(folder, { recursive: true, force: true });
});

describe("Bull Board's views folder", () => {
  it("is made for each API and removed when it closes, its process still running", async () => {
    folder = await mkdtemp(path.join(tmpdir(), "darkroom-views-"));
    process.env.TMPDIR = folder;
    const views = async () => (await readdir(folder)).filter((name) => name.startsWith("darkroom-bull-board-"));
    const h = await startApiHarness("views");
    const other = await h.addApi();
    expect(await views()).toHaveLength(2);
    await other.close();
    expect(await views()).toHaveLength(1);
    await h.close();
    expect(await views()).toEqual([]);
  });

  it("is cleared by the next API when its process was killed, never while its process runs", async () => {
    folder = await mkdtemp(path.join(tmpdir(), "darkroom-views-"));
    process.env.TMPDIR = folder;
    // The folder of an API killed with SIGKILL: its process is gone, its exit handler never ran.
    const gone = spawnSync(process.execPath, ["-e", ""]).pid;
    const dead = `darkroom-bull-board-${gone}-aB3dE9`;
    await mkdir(path.join(folder, dead));
    await writeFile(path.join(folder, dead, "index.ejs"), "<html></html>");
    // An API of a process that still runs (this one), and a folder named the old way (no pid).
    const running = `darkroom-bull-board-${process.pid}-Zx81Qp`;
    const unnamed = "darkroom-bull-board-Q2w9Er";
    await mkdir(path.join(folder, running));
    await mkdir(path.join(folder, unnamed));
    const h = await startApiHarness("views-sweep");
    const names = await readdir(folder);
    expect(names).not.toContain(dead);
    expect(names).toEqual(expect.arrayContaining([running, unnamed]));
    // and its own, named after its process
    expect(names.filter((name) => name.startsWith(`darkroom-bull-board-${process.pid}-`))).toHaveLength(2);
    await h.close();
    expect((await readdir(folder)).sort()).toEqual([running, unnamed].sort());
  });
});
