// npm run chaos [-- --profile short|full]: breaks a private Redis, a private Postgres, worker and
// API processes while jobs are in flight, then prints the invariants as a table.
import { parseArgs } from "node:util";
import { formatTable, runChaos, summarize } from "@darkroom/testing";

const { values } = parseArgs({ options: { profile: { type: "string", default: "full" } } });
if (values.profile !== "full" && values.profile !== "short") {
  console.error("--profile must be short or full");
  process.exit(2);
}
const started = Date.now();
const results = await runChaos(values.profile, (line) => console.error(line));
console.log(formatTable(summarize(results)));
console.log(`\n${values.profile} profile, ${((Date.now() - started) / 1000).toFixed(0)} s`);
const bad = results.filter((r) => r.lost > 0 || r.duplicated > 0);
process.exit(bad.length === 0 ? 0 : 1);
