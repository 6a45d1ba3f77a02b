import { mkdtemp, readdir, rm } from "node:fs/promises";
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
});
