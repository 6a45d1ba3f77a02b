// npm run chaos [-- --profile short|full]: breaks a private Redis, a private Postgres, worker and
// API processes while jobs are in flight, then prints the invariants as a table (exit 1 on any violation).
import { parseArgs } from "node:util";
import { findViolations, formatTable, runChaos, summarize } from "@darkroom/testing";

const { values } = parseArgs({ options: { profile: { type: "string", default: "full" } } });
if (values.profile !== "full" && values.profile !== "short") {
  console.error("--profile must be short or full");
  process.exit(2);
}
const started = Date.now();
const results = await runChaos(values.profile, (line) => console.error(line));
console.log(formatTable(summarize(results)));
console.log(`\n${values.profile} profile, ${((Date.now() - started) / 1000).toFixed(0)} s`);
const violations = findViolations(results);
for (const line of violations) console.error(line);
process.exit(violations.length === 0 ? 0 : 1);
