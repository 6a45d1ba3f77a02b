export { type Simulator, startSimulator } from "@darkroom/upstream-simulator";
export { formatTable, type ScenarioResult } from "./chaos/invariants";
export { type ChaosProfile, runChaos, summarize } from "./chaos/run";
export {
  createEmptyDatabase,
  createTestDatabase,
  prepareTemplateDatabase,
  TEMPLATE_DATABASE,
  TEST_SERVER_URL,
  type TestDatabase,
} from "./database";
export { REPO_ROOT, type RunningProcess, startProcess } from "./processes";
export { createTestRedis, TEST_REDIS_URL, type TestRedis } from "./redis";
export { readSse, type SseRead } from "./sse";
export { STACK_ADMIN_TOKEN, type Stack, type StackOptions, startStack } from "./stack";
