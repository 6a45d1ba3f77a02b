// Builds the publishable package into packages/sdk/dist: one bundled file per module system, with
// every dependency compiled in (the server's webhook verification, eventsource-parser), so the
// package installs with no dependency at all; and tsc's declarations, which need no other package.
//   dist/esm/index.js  + *.d.ts   (`import`)
//   dist/cjs/index.cjs + *.d.cts  (`require`)
//   dist/THIRD-PARTY-NOTICES.md   (the licences of the code compiled in)
// `npm pack` runs it (prepack); the repository's own code and tests use the sources.
import { execFileSync } from "node:child_process";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const sdk = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.join(sdk, "dist");
const require = createRequire(import.meta.url);

/** The declarations of src, as `.d.ts` (ESM) into dist/esm and as `.d.cts` (CommonJS) into dist/cjs. */
async function emitDeclarations() {
  const tsc = require.resolve("typescript/bin/tsc");
  execFileSync(process.execPath, [tsc, "-p", path.join(sdk, "tsconfig.build.json")], { stdio: "inherit" });
  for (const file of await readdir(path.join(dist, "esm"))) {
    if (!file.endsWith(".d.ts")) continue;
    const text = await readFile(path.join(dist, "esm", file), "utf8");
    // `./errors.js` from a .d.cts names the CommonJS declarations, errors.d.cts.
    const cjs = text.replace(/(from\s+["']\.\/[^"']+)\.js(["'])/g, "$1.cjs$2");
    await writeFile(path.join(dist, "cjs", file.replace(/\.d\.ts$/, ".d.cts")), cjs);
  }
}

/** The licence of each package compiled into the bundles, which theirs asks to keep with the code. */
async function writeNotices(packages) {
  const notices = await Promise.all(
    packages.map(async (name) => {
      const dir = path.dirname(require.resolve(`${name}/package.json`));
      const { version, license } = JSON.parse(await readFile(path.join(dir, "package.json"), "utf8"));
      const text = await readFile(path.join(dir, "LICENSE"), "utf8");
      return `## ${name} ${version} (${license})\n\n${text.trim()}\n`;
    }),
  );
  await writeFile(
    path.join(dist, "THIRD-PARTY-NOTICES.md"),
    `# Third-party code in this package\n\n${notices.join("\n")}`,
  );
}

export async function buildSdk() {
  await rm(dist, { recursive: true, force: true });
  await mkdir(path.join(dist, "cjs"), { recursive: true });
  const shared = {
    entryPoints: [path.join(sdk, "src", "index.ts")],
    bundle: true,
    platform: "node",
    target: "node20",
    logLevel: "warning",
    // Only Node's own modules stay imports: a bare import left in would need an installed package.
    packages: "bundle",
  };
  const esm = await build({ ...shared, format: "esm", outfile: path.join(dist, "esm", "index.js"), metafile: true });
  await build({ ...shared, format: "cjs", outfile: path.join(dist, "cjs", "index.cjs") });
  await emitDeclarations();
  // The files esbuild read include ones tree shaking dropped: count only those in the output.
  const bundled = new Set();
  for (const output of Object.values(esm.metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
      if (bytesInOutput > 0 && match?.[1] !== undefined) bundled.add(match[1]);
    }
  }
  await writeNotices([...bundled].sort());
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await buildSdk();
