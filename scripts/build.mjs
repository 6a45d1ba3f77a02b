// Bundles each process entry point into <out>/dist/*.js (the workspace's own packages are compiled
// in, third-party packages stay in node_modules) and builds the dashboard into
// <out>/apps/dashboard/dist, where the API looks for it. Production runs these files with plain
// `node`; `npm run build` writes them into the repository, the test suite into a folder of its run.
//   node scripts/build.mjs [--out DIR] [--no-dashboard]
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const entryPoints = {
  api: "apps/api/src/main.ts",
  worker: "apps/worker/src/main.ts",
  simulator: "apps/upstream-simulator/src/main.ts",
  cli: "apps/api/src/cli.ts",
  migrate: "scripts/db-migrate.ts",
  start: "scripts/start.ts",
};

const externalThirdParty = {
  name: "external-third-party",
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith("@darkroom/") ? undefined : { path: args.path, external: true },
    );
  },
};

/** Bundles the process entry points into `<out>/dist`. */
export async function buildBundles(out = root) {
  await build({
    entryPoints: Object.fromEntries(Object.entries(entryPoints).map(([name, file]) => [name, path.join(root, file)])),
    outdir: path.join(out, "dist"),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    sourcemap: "linked",
    logLevel: "warning",
    plugins: [externalThirdParty],
  });
}

/** The dashboard: a static single-page app, served by the API at /dashboard. */
export function buildDashboard(out = root) {
  const outDir = path.join(out, "apps", "dashboard", "dist");
  execFileSync("npx", ["vite", "build", "--logLevel", "warn", "--outDir", outDir, "--emptyOutDir"], {
    cwd: path.join(root, "apps", "dashboard"),
    stdio: "inherit",
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const outIndex = args.indexOf("--out");
  const out = outIndex >= 0 ? path.resolve(args[outIndex + 1] ?? ".") : root;
  await buildBundles(out);
  if (!args.includes("--no-dashboard")) buildDashboard(out);
}
