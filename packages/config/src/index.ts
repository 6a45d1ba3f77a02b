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
} from "./env";
