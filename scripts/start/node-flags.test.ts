import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { nodeFlagsOf } from "@darkroom/config";
import { bundleDir, startProcess } from "@darkroom/testing";
import { describe, expect, it } from "vitest";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const read = (file: string) => readFileSync(path.join(root, file), "utf8");

/** `node <flags> dist/<bundle>`, as each way of starting a bundle should say it. */
const expected = (bundle: string) => ["node", ...nodeFlagsOf(bundle), `dist/${bundle}`];

/** The JSON-array `command:` of a docker-compose service. */
function composeCommand(service: string): string[] {
  const compose = read("docker-compose.yml");
  const block = new RegExp(`\\n  ${service}:\\n((?:    .*\\n|\\s*\\n)*)`).exec(compose)?.[1];
  const line = block === undefined ? undefined : /\n?\s+command: (\[.*\])/.exec(block)?.[1];
  if (line === undefined) throw new Error(`docker-compose.yml: no command for ${service}`);
  return JSON.parse(line) as string[];
}

describe("every way of starting a bundle runs it with its Node flags", () => {
  it("the API's young generation is larger than V8's default", () => {
    expect(nodeFlagsOf("api.js")).toContain("--max-semi-space-size=32");
  });

  it("the test harness's processes, beside its own --liftoff-only", async () => {
    for (const bundle of ["api.js", "worker.js"]) {
      // Started with no configuration, the bundle stops at once on it; only its command line counts.
      const started = startProcess(bundle, {});
      const argv = started.child.spawnargs.slice(1);
      await started.stop();
      expect(argv.at(-1)).toBe(path.join(bundleDir(), bundle));
      expect(argv).toEqual(expect.arrayContaining([...nodeFlagsOf(bundle), "--liftoff-only"]));
    }
  });

  it("npm run start:api and start:worker", () => {
    const scripts = (JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts;
    expect(scripts["start:api"]?.split(" ")).toEqual(expected("api.js"));
    expect(scripts["start:worker"]?.split(" ")).toEqual(expected("worker.js"));
  });

  it("the Dockerfile's command", () => {
    const cmd = /^CMD (\[.*\])$/m.exec(read("Dockerfile"))?.[1];
    expect(cmd === undefined ? null : JSON.parse(cmd)).toEqual(expected("api.js"));
  });

  it("docker-compose.yml's api and worker services", () => {
    expect(composeCommand("api")).toEqual(expected("api.js"));
    expect(composeCommand("worker")).toEqual(expected("worker.js"));
  });

  it("npm start's supervisor runs each bundle with them", async () => {
    // Stand-in bundles that write the flags they were started with and wait to be stopped; the
    // supervisor runs in a process of its own, which stops them and itself once both have written.
    const dir = await mkdtemp(path.join(tmpdir(), "darkroom-node-flags-"));
    const argvFile = (bundle: string) => path.join(dir, `${bundle}.argv`);
    try {
      for (const bundle of ["api.js", "worker.js"]) {
        await writeFile(
          path.join(dir, bundle),
          `const fs = require("node:fs"), file = ${JSON.stringify(argvFile(bundle))};
          fs.writeFileSync(file + ".tmp", JSON.stringify(process.execArgv));
          fs.renameSync(file + ".tmp", file);
          setInterval(() => {}, 1000);`,
        );
      }
      const script = `import { existsSync } from "node:fs";
        import { Supervisor } from ${JSON.stringify(path.join(root, "scripts/start/supervisor.ts"))};
        const s = new Supervisor(${JSON.stringify(dir)}, 5000);
        s.run("api", "api.js", process.env);
        s.run("worker", "worker.js", process.env);
        const files = ${JSON.stringify(["api.js", "worker.js"].map(argvFile))};
        const poll = setInterval(() => {
          if (files.every((f) => existsSync(f))) { clearInterval(poll); void s.stop(0); }
        }, 20);`;
      const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
        cwd: root,
        stdio: "ignore",
      });
      await new Promise((resolve) => child.on("exit", resolve));
      for (const bundle of ["api.js", "worker.js"]) {
        expect(JSON.parse(await readFile(argvFile(bundle), "utf8"))).toEqual([...nodeFlagsOf(bundle)]);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("the benchmark starts bundles with nodeFlagsOf", () => {
    expect(read("scripts/bench.ts")).toMatch(
      /\[\.\.\.profile, \.\.\.nodeFlagsOf\(file\), path\.join\(bundleDir\(\), file\)\]/,
    );
  });
});
