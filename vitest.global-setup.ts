import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isProcessAlive } from "@darkroom/domain";
import pg from "pg";

// @darkroom/testing is imported only once Prisma's client is generated: it imports @darkroom/db,
// which imports the generated client, and a fresh clone has none yet.
type Testing = typeof import("@darkroom/testing");

const REPO_ROOT = path.dirname(fileURLToPath(import.meta.url));
const TEST_SERVER_URL = "postgresql://postgres@127.0.0.1:5432";
const BUILDS = path.join(REPO_ROOT, ".test-builds");
const GENERATED = path.join(REPO_ROOT, "packages", "db", "src", "generated");
const GENERATED_STAMP = path.join(GENERATED, ".schema-sha256");

function run(args: string[]): void {
  const result = spawnSync(process.execPath, args, { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
  if (result.status !== 0) {
    throw new Error(`node ${args.join(" ")} failed (${result.status}):\n${result.stdout}${result.stderr}`);
  }
}

/**
 * Prisma's client is generated into the sources, which every run shares: regenerate it only when
 * schema.prisma changed, under a Postgres advisory lock so that two runs starting together never
 * read a half-written client.
 */
async function generatePrismaClient(): Promise<void> {
  const schema = await readFile(path.join(REPO_ROOT, "prisma", "schema.prisma"));
  const prismaVersion = JSON.parse(
    await readFile(path.join(REPO_ROOT, "node_modules", "prisma", "package.json"), "utf8"),
  ).version as string;
  const stamp = createHash("sha256").update(schema).update(prismaVersion).digest("hex");
  const client = new pg.Client({ connectionString: `${TEST_SERVER_URL}/postgres` });
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock(hashtext('darkroom-test-prisma-generate'))");
    const current = await readFile(GENERATED_STAMP, "utf8").catch(() => "");
    if (current !== stamp) {
      run(["scripts/prisma-generate.mjs"]);
      await writeFile(GENERATED_STAMP, stamp);
    }
  } finally {
    await client.end();
  }
}

/** Removes the builds of runs whose process is gone. */
async function sweepStaleBuilds({ ownerPidOf }: Testing): Promise<void> {
  const entries = await readdir(BUILDS).catch(() => [] as string[]);
  for (const entry of entries) {
    const pid = ownerPidOf(entry);
    if (pid !== null && !isProcessAlive(pid)) await rm(path.join(BUILDS, entry), { recursive: true, force: true });
  }
}

/**
 * Once per run. The run gets an id of its own (its template database, database clones, queue
 * prefixes and build carry it), so runs sharing a machine never touch each other. Whole-system
 * tests start bundles, so the current sources are bundled here, into this run's folder: however a
 * test is started (`npm test`, `npx vitest run <file>`), it runs the code on disk.
 */
export default async function setup(): Promise<() => Promise<void>> {
  await generatePrismaClient();
  const testing = await import("@darkroom/testing");
  const {
    deleteDeadRunKeys,
    deleteRunKeys,
    dropRunDatabases,
    newTestRunId,
    prepareTemplateDatabase,
    TEST_BUILD_ENV,
    TEST_RUN_ENV,
  } = testing;
  const runId = newTestRunId();
  const buildDir = path.join(BUILDS, runId);
  process.env[TEST_RUN_ENV] = runId;
  process.env[TEST_BUILD_ENV] = buildDir;

  await dropRunDatabases();
  await deleteDeadRunKeys();
  await sweepStaleBuilds(testing);
  await mkdir(buildDir, { recursive: true });
  run(["scripts/build.mjs", "--out", buildDir]);
  await prepareTemplateDatabase();

  return async () => {
    await dropRunDatabases(runId);
    await deleteRunKeys(runId);
    await rm(buildDir, { recursive: true, force: true });
  };
}
