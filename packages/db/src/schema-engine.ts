import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { PrismaPg } from "@prisma/adapter-pg";
import { bindMigrationAwareSqlAdapterFactory } from "@prisma/driver-adapter-utils";

/** A schema source the engine can diff: a Prisma datamodel, or nothing. */
export type DiffSource = { kind: "empty" } | { kind: "datamodel"; fileName: string; content: string };

// @types/node for Node 20 does not declare the WebAssembly global; this is the slice used here.
interface WasmApi {
  compile(bytes: Uint8Array): Promise<object>;
  instantiate(module: object, imports: Record<string, unknown>): Promise<{ exports: Record<string, unknown> }>;
}
const { WebAssembly: wasmApi } = globalThis as unknown as { WebAssembly: WasmApi };

interface WasmSchemaEngine {
  diff(params: unknown): Promise<{ exitCode: number; stdout: string | null }>;
  free(): void;
}

/**
 * Computes Prisma's exact migration SQL between two datamodels, offline, with the schema engine
 * compiled to WebAssembly. The CLI's native engine is a download this machine cannot make.
 * The engine opens a connection through the adapter even for a pure datamodel diff, so it is
 * pointed at the server's always-present `postgres` database; nothing there is read or changed.
 */
export async function diffDatamodels(from: DiffSource, to: DiffSource, databaseUrl: string): Promise<string> {
  const require = createRequire(import.meta.url);
  const bgPath = require.resolve("@prisma/schema-engine-wasm/schema_engine_bg");
  const bg = (await import(bgPath)) as Record<string, unknown> & {
    __wbg_set_wasm(exports: Record<string, unknown>): void;
    SchemaEngine: { new: (options: unknown, log: (m: string) => void, adapter: unknown) => Promise<WasmSchemaEngine> };
  };
  const wasmBytes = await readFile(bgPath.replace(/schema_engine_bg\.js$/, "schema_engine_bg.wasm"));
  const module = await wasmApi.compile(wasmBytes);
  const instance = await wasmApi.instantiate(module, { "./schema_engine_bg.js": bg });
  bg.__wbg_set_wasm(instance.exports);
  (instance.exports.__wbindgen_start as () => void)();

  const serverUrl = new URL(databaseUrl);
  serverUrl.pathname = "/postgres";
  const adapter = bindMigrationAwareSqlAdapterFactory(new PrismaPg({ connectionString: serverUrl.toString() }));
  const target = (s: DiffSource) =>
    s.kind === "empty"
      ? { tag: "empty" }
      : { tag: "schemaDatamodel", files: [{ path: s.fileName, content: s.content }] };
  const datamodels = to.kind === "datamodel" ? [[to.fileName, to.content]] : undefined;
  const engine = await bg.SchemaEngine.new({ datamodels }, () => {}, adapter);
  try {
    const result = await engine.diff({
      from: target(from),
      to: target(to),
      script: true,
      shadowDatabaseUrl: null,
      exitCode: null,
      filters: { externalTables: [], externalEnums: [] },
    });
    return result.stdout ?? "";
  } finally {
    engine.free();
  }
}
