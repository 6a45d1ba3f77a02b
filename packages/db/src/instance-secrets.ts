import { randomBytes } from "node:crypto";
import type { PrismaClient } from "./generated/prisma/client";
import { createTenantWithKey, findTenant, findTenantByApiKey, type TenantSettingsInput } from "./tenants";

/** What `npm start` needs to run a development instance that survives its restarts. */
export interface DevelopmentSecrets {
  /** ADMIN_TOKEN when configured, else the one made up at the first start. */
  adminToken: string;
  /** IMAGE_URL_SECRET when configured, else the one made up at the first start. */
  imageUrlSecret: string;
  /** The development tenant's API key and its webhook secret. */
  apiKey: string;
  tenantId: string;
  webhookSecret: string;
}

/** Options of {@link ensureDevelopmentSecrets}. */
export interface DevelopmentSecretsOptions {
  /** Configured values win and are not stored. */
  adminToken?: string | undefined;
  imageUrlSecret?: string | undefined;
  /** Settings of the development tenant when it has to be made. */
  tenantSettings?: Partial<TenantSettingsInput>;
}

/** Where these secrets live, for people: the table of this instance's database. */
export const INSTANCE_SECRETS_TABLE = "InstanceSecret";

const DEV_TENANT_NAME = "development";

/**
 * The development instance's secrets, read from its own database (table `InstanceSecret`) or made
 * and stored there on the first start: the admin token and image URL key unless configured, and a
 * development tenant with its API key (made again if that key was revoked or its tenant deleted).
 * Kept in the database rather than in a file so that instances never see each other's secrets,
 * whatever their storage folders, and a restart keeps earlier signed image URLs, dashboard sessions
 * and the key and webhook secret it printed. Starts on one database at once agree on one set (an
 * advisory lock serialises them).
 */
export async function ensureDevelopmentSecrets(
  db: PrismaClient,
  options: DevelopmentSecretsOptions = {},
): Promise<DevelopmentSecrets> {
  return db.$transaction(
    async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('darkroom development secrets'))`;
      const stored = new Map(
        (await tx.instanceSecret.findMany()).map((row): [string, string] => [row.name, row.value]),
      );
      const keep = async (name: string, make: () => string): Promise<string> => {
        const existing = stored.get(name);
        if (existing !== undefined) return existing;
        const value = make();
        await tx.instanceSecret.create({ data: { name, value } });
        return value;
      };
      const adminToken =
        options.adminToken ?? (await keep("admin_token", () => `adm_${randomBytes(24).toString("base64url")}`));
      const imageUrlSecret =
        options.imageUrlSecret ?? (await keep("image_url_secret", () => randomBytes(32).toString("base64url")));

      const savedKey = stored.get("dev_api_key");
      const auth = savedKey === undefined ? null : await findTenantByApiKey(tx, savedKey);
      const tenant = auth === null ? null : await findTenant(tx, auth.tenantId);
      if (savedKey !== undefined && tenant !== null) {
        return {
          adminToken,
          imageUrlSecret,
          apiKey: savedKey,
          tenantId: tenant.id,
          webhookSecret: tenant.webhookSecret,
        };
      }
      const created = await createTenantWithKey(tx, DEV_TENANT_NAME, options.tenantSettings);
      await tx.instanceSecret.upsert({
        where: { name: "dev_api_key" },
        create: { name: "dev_api_key", value: created.apiKey },
        update: { value: created.apiKey },
      });
      return {
        adminToken,
        imageUrlSecret,
        apiKey: created.apiKey,
        tenantId: created.tenantId,
        webhookSecret: created.webhookSecret,
      };
    },
    { timeout: 30_000 },
  );
}
