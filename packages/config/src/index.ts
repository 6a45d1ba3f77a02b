export {
  ConfigError,
  type Env,
  EnvSchema,
  imageUrlSecret,
  imageUrlWebhookWindowSeconds,
  loadEnv,
  loadEnvOrExit,
  parseDurationList,
  parseEnv,
  publicBaseUrl,
  type TenantSettings,
  tenantDefaults,
} from "./env";
export { EVENT_LOOP_SAMPLE_MS } from "./metrics";
export { DEFAULT_MODEL_PRICES, parseModelPrices } from "./model-prices";
export { nodeFlagsOf } from "./node-flags";
