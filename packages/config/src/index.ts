export {
  ConfigError,
  type Env,
  EnvSchema,
  imageUrlSecret,
  loadEnv,
  loadEnvOrExit,
  parseDurationList,
  parseEnv,
  publicBaseUrl,
  type TenantSettings,
  tenantDefaults,
} from "./env";
export { DEFAULT_MODEL_PRICES, parseModelPrices } from "./model-prices";
