import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT, type Stack, startStack } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newTenant } from "./support";

// The SDK as a user gets it: `npm pack` (which builds it), installed from the tarball into an empty
// project outside the workspace, with an empty npm cache and no network (so any dependency it
// needed would fail the install), then the README's own examples run with plain `node` (ES module
// and CommonJS) against a live API, worker and simulator, and type-checked with `tsc`.

const run = promisify(execFile);
const SDK_DIR = path.join(REPO_ROOT, "packages", "sdk");
const TSC = path.join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");

/**
 * npm's environment without what an enclosing `npm test` puts in it (`npm_config_*` such as its
 * prefix and cache, `npm_package_*`): the install must happen as in a user's own empty project.
 */
const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));

let stack: Stack;
let work: string;
let app: string;
let examplesEnv: Record<string, string>;

/** The fenced code blocks of the README's "A complete example" section, in order. */
async function readmeExamples(): Promise<string[]> {
  const readme = await readFile(path.join(SDK_DIR, "README.md"), "utf8");
  const start = readme.indexOf("## A complete example");
  const end = readme.indexOf("\n## ", start + 1);
  expect(start).toBeGreaterThan(0);
  return [...readme.slice(start, end).matchAll(/```js\n([\s\S]*?)```/g)].map((match) => match[1] ?? "");
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Runs a file of the consumer project with plain node (none of the workspace's loaders or options). */
async function runNode(file: string): Promise<string> {
  try {
    const { stdout } = await run(process.execPath, [file], { cwd: app, env: examplesEnv, timeout: 60_000 });
    return stdout;
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`node ${file} failed:\n${stdout ?? ""}${stderr ?? ""}`, { cause: error });
  }
}

/** `tsc --noEmit -p <config>` in the consumer project; resolves with its diagnostics ("" when clean). */
async function typeCheck(config: string): Promise<string> {
  try {
    await run(process.execPath, [TSC, "-p", config], { cwd: app, timeout: 60_000 });
    return "";
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    return `${stdout ?? ""}${stderr ?? ""}` || String(error);
  }
}

function tsconfig(compilerOptions: Record<string, unknown>, files: string[]) {
  return JSON.stringify({
    compilerOptions: {
      strict: true,
      target: "ES2022",
      noEmit: true,
      // The package's own declarations are checked too, not only their use.
      skipLibCheck: false,
      // Node's types as a user would install them (@types/node), here taken from the workspace.
      types: ["node"],
      typeRoots: [path.join(REPO_ROOT, "node_modules", "@types")],
      ...compilerOptions,
    },
    files,
  });
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), "darkroom-sdk-package-"));
  app = path.join(work, "app");
  await mkdir(app);
  // `npm pack` runs the package's prepack script: the build.
  await run("npm", ["pack", "--pack-destination", work, "--silent"], { cwd: SDK_DIR, env: npmEnv, timeout: 120_000 });
  const tarball = (await readdir(work)).find((file) => file.endsWith(".tgz"));
  if (tarball === undefined) throw new Error("npm pack wrote no tarball");
  await writeFile(
    path.join(app, "package.json"),
    JSON.stringify({ name: "sdk-consumer", private: true, type: "module" }, null, 2),
  );
  await run(
    "npm",
    ["install", path.join(work, tarball), "--offline", "--no-audit", "--no-fund", "--cache", path.join(work, "cache")],
    { cwd: app, env: npmEnv, timeout: 120_000 },
  );

  const [esm, cjs] = await readmeExamples();
  if (esm === undefined || cjs === undefined) throw new Error("the README has lost an example");
  await writeFile(path.join(app, "example.mjs"), esm);
  await writeFile(path.join(app, "example.ts"), esm);
  await writeFile(path.join(app, "example.cjs"), cjs);
  // A type error the declarations must catch: were they missing or unresolved, everything would be
  // any. Checked in the same tsc run as the examples (one compiler start fewer on a CPU-bound suite).
  await writeFile(
    path.join(app, "wrong.ts"),
    'import { DarkroomClient } from "@darkroom/sdk";\nnew DarkroomClient({});\n',
  );
  await writeFile(
    path.join(app, "tsconfig.nodenext.json"),
    tsconfig({ module: "nodenext", moduleResolution: "nodenext", allowJs: true, checkJs: true }, [
      "example.ts",
      "example.cjs",
      "wrong.ts",
    ]),
  );
  await writeFile(
    path.join(app, "tsconfig.bundler.json"),
    tsconfig({ module: "esnext", moduleResolution: "bundler" }, ["example.ts"]),
  );

  stack = await startStack({
    label: "sdkpack",
    simulatorStepMs: 5,
    env: { ALLOW_PRIVATE_WEBHOOK_URLS: "true" },
  });
  const tenant = await newTenant(stack, "sdk-package");
  examplesEnv = {
    PATH: process.env.PATH ?? "",
    DARKROOM_URL: stack.apiUrl,
    DARKROOM_API_KEY: tenant.apiKey,
    DARKROOM_WEBHOOK_SECRET: tenant.webhookSecret,
    PORT: String(await freePort()),
  };
}, 240_000);

afterAll(async () => {
  await stack?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe("the packed @darkroom/sdk in an empty project", () => {
  it("installs with no dependency and holds only the build", async () => {
    const installed = path.join(app, "node_modules");
    expect((await readdir(installed)).filter((name) => !name.startsWith("."))).toEqual(["@darkroom"]);
    expect(await readdir(path.join(installed, "@darkroom"))).toEqual(["sdk"]);
    const manifest = JSON.parse(await readFile(path.join(installed, "@darkroom", "sdk", "package.json"), "utf8"));
    expect(manifest.dependencies ?? {}).toEqual({});
    expect((await readdir(path.join(installed, "@darkroom", "sdk"))).sort()).toEqual([
      "README.md",
      "dist",
      "package.json",
    ]);
  });

  it("runs the README's example as an ES module: create, stream events, wait, a verified webhook", async () => {
    const out = await runNode("example.mjs");
    expect(out).toMatch(/^created job_\w+ queued$/m);
    const events = [...out.matchAll(/^event (\d+) (\S+)$/gm)];
    expect(events.map((match) => match[2])).toContain("job.started");
    expect(events.at(-1)?.[2]).toBe("job.succeeded");
    expect(out).toMatch(/^succeeded: image\/png \d+ bytes; http:\/\/\S+$/m);
    expect(out).toMatch(/^webhook job\.succeeded succeeded$/m);
  }, 90_000);

  it("the README's tarball install starts with npm ci in the clone, then npm pack as this test runs it", async () => {
    const readme = await readFile(path.join(SDK_DIR, "README.md"), "utf8");
    const install = readme.slice(readme.indexOf("## Install"), readme.indexOf("## A complete example"));
    const tarball = [...install.matchAll(/```sh\n([\s\S]*?)```/g)]
      .map((m) => m[1] ?? "")
      .find((b) => b.includes("npm pack"));
    const commands = (tarball ?? "").split("\n").map((line) => line.replace(/#.*$/, "").trim());
    expect(commands[0]).toBe("npm ci");
    expect(commands[1]).toMatch(/^cd packages\/sdk && npm pack --pack-destination \S+$/);
  });

  it("runs the README's CommonJS example with require", async () => {
    const out = await runNode("example.cjs");
    expect(out).toMatch(/^job job_\w+ succeeded$/m);
    expect(out).toMatch(/^events job\.queued .*job\.succeeded$/m);
    expect(out).toMatch(/^verified: job\.succeeded succeeded$/m);
    expect(out).toMatch(/^refused: no_matching_signature$/m);
    expect(out).toMatch(/^refused: 400 validation_failed /m);
  }, 90_000);

  it("type-checks the examples with moduleResolution nodenext (ES module and CommonJS), and gives TypeScript its types, not any", async () => {
    const diagnostics = await typeCheck("tsconfig.nodenext.json");
    const errors = diagnostics.split("\n").filter((line) => /^\S+\(\d+,\d+\): error/.test(line));
    // The examples are clean; the one error is wrong.ts's, which only typed declarations can catch.
    expect(
      errors.filter((line) => !line.startsWith("wrong.ts(")),
      diagnostics,
    ).toEqual([]);
    expect(errors, diagnostics).toEqual([expect.stringMatching(/^wrong\.ts\(2,\d+\): error TS2345/)]);
  }, 90_000);

  it("type-checks the example with moduleResolution bundler", async () => {
    expect(await typeCheck("tsconfig.bundler.json")).toBe("");
  }, 90_000);
});
