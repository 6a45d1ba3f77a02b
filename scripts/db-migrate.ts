import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadEnvOrExit } from "@darkroom/config";
import { findMigrationsDir, migrate } from "@darkroom/db/migrate";

const env = loadEnvOrExit();
const dir = await findMigrationsDir(path.dirname(fileURLToPath(import.meta.url)));
const result = await migrate(env.DATABASE_URL, dir);
if (result.createdDatabase) console.log(`created database ${new URL(env.DATABASE_URL).pathname.slice(1)}`);
for (const name of result.applied) console.log(`applied ${name}`);
console.log(`${result.applied.length} applied, ${result.alreadyApplied.length} already applied`);
