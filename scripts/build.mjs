// Bundles each process entry point into dist/*.js: the workspace's own packages are compiled in,
// third-party packages stay in node_modules. Production runs these files with plain `node`.
import { execFileSync } from "node:child_process";
import { build } from "esbuild";

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

await build({
  entryPoints,
  outdir: "dist",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: "linked",
  logLevel: "warning",
  plugins: [externalThirdParty],
});

// The dashboard: a static single-page app, served by the API at /dashboard.
execFileSync("npx", ["vite", "build", "--logLevel", "warn"], { cwd: "apps/dashboard", stdio: "inherit" });
