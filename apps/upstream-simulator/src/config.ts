/** Settings of the standalone simulator process. */
export interface SimulatorConfig {
  port: number;
  host: string;
  stepMs: number;
}

function intSetting(env: Record<string, string | undefined>, key: string, fallback: number): number {
  const raw = env[key];
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${key} must be a non-negative integer, got "${raw}"`);
  return value;
}

/** Parses the simulator's environment variables (pure; `loadSimulatorConfig` passes `process.env`). */
export function parseSimulatorConfig(env: Record<string, string | undefined>): SimulatorConfig {
  return {
    port: intSetting(env, "SIMULATOR_PORT", 4010),
    host: env.SIMULATOR_HOST?.trim() || "127.0.0.1",
    stepMs: intSetting(env, "SIMULATOR_STEP_MS", 150),
  };
}

/** The simulator's single reader of `process.env`. */
export function loadSimulatorConfig(): SimulatorConfig {
  return parseSimulatorConfig(process.env);
}
