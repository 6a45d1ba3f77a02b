// npm run cli -- keys create --name NAME [--json]
import { parseArgs } from "node:util";
import { loadEnvOrExit } from "@darkroom/config";
import { createPrismaClient, createTenantWithKey } from "@darkroom/db";

const USAGE = "usage: npm run cli -- keys create --name NAME [--json]";

const [group, command, ...rest] = process.argv.slice(2);
if (group !== "keys" || command !== "create") {
  console.error(USAGE);
  process.exit(2);
}
let values: { name?: string; json?: boolean };
try {
  ({ values } = parseArgs({ args: rest, options: { name: { type: "string" }, json: { type: "boolean" } } }));
} catch (error) {
  console.error(`${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}
const name = values.name?.trim();
if (name === undefined || name === "") {
  console.error(`--name is required\n${USAGE}`);
  process.exit(2);
}
const env = loadEnvOrExit();
const db = createPrismaClient({ databaseUrl: env.DATABASE_URL, poolSize: 1 });
try {
  const created = await createTenantWithKey(db, name);
  if (values.json === true) {
    console.log(
      JSON.stringify({ tenant_id: created.tenantId, api_key: created.apiKey, webhook_secret: created.webhookSecret }),
    );
  } else {
    console.log(`tenant_id:      ${created.tenantId}`);
    console.log(`api_key:        ${created.apiKey}`);
    console.log(`webhook_secret: ${created.webhookSecret}`);
    console.log("Keep the API key: it is stored hashed and cannot be shown again.");
  }
} finally {
  await db.$disconnect();
}
