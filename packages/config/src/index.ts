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
