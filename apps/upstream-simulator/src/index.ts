export { parseSimulatorConfig, type SimulatorConfig } from "./config";
export type { CallRecord, SimQuota } from "./context";
export { FAULT_KINDS, type FaultKind, parseDirectives, parseGenerateSentence, parseScript } from "./directives";
export { makeImageId, sizeOfImageId } from "./image-store";
export type { ModelFault } from "./model-faults";
export { chunk as pngChunk, crc32, encodePng } from "./png";
export { type Simulator, type SimulatorOptions, startSimulator } from "./server";
