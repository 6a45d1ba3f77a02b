import { loadSimulatorConfig } from "./config";
import { startSimulator } from "./server";

const config = loadSimulatorConfig();
const simulator = await startSimulator({ port: config.port, host: config.host, stepMs: config.stepMs });
console.log(`upstream simulator listening on ${simulator.url}`);

const stop = (): void => {
  void simulator.close().then(() => process.exit(0));
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
