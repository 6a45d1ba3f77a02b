import { prepareTemplateDatabase } from "@darkroom/testing";

/** Once per run: the migrated template database every test file clones. */
export default async function setup(): Promise<void> {
  await prepareTemplateDatabase();
}
