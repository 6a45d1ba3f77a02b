// `prisma generate` needs no schema engine, but the CLI looks for one (and would download it).
// Pointing PRISMA_SCHEMA_ENGINE_BINARY at any existing file keeps it offline.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const cli = require.resolve("prisma/build/index.js");
const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
  PRISMA_HIDE_UPDATE_MESSAGE: "1",
  CHECKPOINT_DISABLE: "1",
};
const run = spawnSync(process.execPath, [cli, "generate"], { stdio: ["ignore", "pipe", "inherit"], env });
if (run.status !== 0) {
  process.stdout.write(run.stdout ?? "");
  process.exit(run.status ?? 1);
}
