// Preloaded into a Darkroom process by the benchmark (`--alloc-prof DIR`, through `--import`):
// samples what the process allocates with V8's sampling heap profiler, including the objects that
// garbage collection has already freed (Node's own `--heap-prof` keeps only the survivors, which
// says nothing of the allocation rate a garbage collector pays for), and writes the profile to
// BENCH_ALLOC_PROF_DIR/<pid>.heapprofile when the process exits. Chrome's DevTools (Memory tab)
// open it. Darkroom's own code is not touched.
import { mkdirSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import path from "node:path";

const dir = process.env.BENCH_ALLOC_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post("HeapProfiler.startSampling", {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  // The main thread's session answers synchronously, so this runs to its end inside 'exit'.
  process.on("exit", () => {
    session.post("HeapProfiler.stopSampling", (error, result) => {
      if (error) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `${process.pid}.heapprofile`), JSON.stringify(result.profile));
    });
  });
}
