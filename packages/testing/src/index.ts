export { type Simulator, startSimulator } from "@darkroom/upstream-simulator";
export { type FaultReport, findViolations, formatTable, type ScenarioResult } from "./chaos/invariants";
export { type ChaosProfile, runChaos, summarize } from "./chaos/run";
export {
  createEmptyDatabase,
  createTestDatabase,
  dropRunDatabases,
  prepareTemplateDatabase,
  TEST_SERVER_URL,
  type TestDatabase,
  templateDatabase,
  testPool,
} from "./database";
export {
  API_LISTENING,
  childPids,
  type RunningProcess,
  runBundle,
  runBundleFailure,
  startProcess,
  until,
} from "./processes";
export {
  createTestRedis,
  deleteDeadRunKeys,
  deleteRunKeys,
  monitorRedis,
  runKeyPrefix,
  TEST_REDIS_URL,
  type TestRedis,
} from "./redis";
export {
  bundleDir,
  newTestRunId,
  ownerPidOf,
  REPO_ROOT,
  TEST_BUILD_ENV,
  TEST_RUN_ENV,
  testRunId,
} from "./run";
export { freePort, PrivateRedis, startPrivateRedis } from "./services";
export { readSse, type SseRead } from "./sse";
export { STACK_ADMIN_TOKEN, type Stack, type StackOptions, startStack } from "./stack";
