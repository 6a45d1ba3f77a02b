export { ConfigError, type Env, EnvSchema, loadEnv, loadEnvOrExit, parseDurationList, parseEnv } from "./env";
