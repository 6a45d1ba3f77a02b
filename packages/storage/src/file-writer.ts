import { Worker } from "node:worker_threads";

/** One file to write: `bytes` go to `temp`, created with `mode`, which is then renamed to `file`. */
interface Write {
  temp: string;
  file: string;
  bytes: Uint8Array;
  mode: number;
}

/** What the thread answers for one write: nothing when it worked, else the error's fields. */
type Outcome = null | { message: string; code?: string; errno?: number; syscall?: string; path?: string };

// The thread's whole program. It runs as a CommonJS script of its own (`eval`), so it needs no
// file next to the bundle that starts it. Each message is a batch of writes; each answer, the
// batch's outcomes in the same order.
const THREAD_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { writeFileSync, renameSync, rmSync } = require("node:fs");
parentPort.on("message", ({ batch, writes }) => {
  const outcomes = writes.map(({ temp, file, bytes, mode }) => {
    try {
      writeFileSync(temp, bytes, { mode });
      renameSync(temp, file);
      return null;
    } catch (error) {
      try { rmSync(temp, { force: true }); } catch {}
      return { message: error.message, code: error.code, errno: error.errno, syscall: error.syscall, path: error.path };
    }
  });
  parentPort.postMessage({ batch, outcomes });
});
`;

/** Starts a writer thread: what {@link FileWriterThread} runs unless told otherwise. */
export function startWriterThread(): Worker {
  return new Worker(THREAD_SOURCE, { eval: true });
}

interface Batch {
  writes: Write[];
  settle: Array<{ resolve: () => void; reject: (error: Error) => void }>;
}

/**
 * Writes files from a thread of its own, so that creating a file never holds the event loop.
 *
 * Creating a file is a few system calls that usually take tens of microseconds, but on a disk that
 * stalls, or on a filesystem that must first skip recently freed inodes (ext4 without a journal,
 * after thousands of deletions), one creation can take a millisecond or more, and a worker streams
 * thousands of jobs from the same event loop. Through libuv's pool the same write is five hand-offs
 * (open, write, close, rename and back), each a wake-up of a pool thread and of the event loop.
 * Here every write asked for during one turn of the event loop goes to the thread as one message,
 * and comes back as one.
 *
 * The thread is started on the first write and does not keep the process alive while idle. If it
 * dies, the writes it held fail with an error that says so, and the next write starts another. If
 * it cannot be started (`new Worker` throws: no thread or memory left), the batch's writes fail
 * with an error that says so, and the next batch tries again.
 */
export class FileWriterThread {
  private worker: Worker | null = null;
  private queued: Batch | null = null;
  private readonly inFlight = new Map<number, Batch>();
  private nextBatch = 1;

  /** `startThread` starts the thread (tests pass one that fails first). */
  constructor(private readonly startThread: () => Worker = startWriterThread) {}

  /** Writes `bytes` to `temp` (created with `mode`), then renames it to `file`. */
  write(temp: string, file: string, bytes: Uint8Array, mode: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.queued === null) {
        this.queued = { writes: [], settle: [] };
        setImmediate(() => this.send());
      }
      this.queued.writes.push({ temp, file, bytes, mode });
      this.queued.settle.push({ resolve, reject });
    });
  }

  /** Batches sent to the thread so far. */
  get batchesSent(): number {
    return this.nextBatch - 1;
  }

  /** The thread's id while it runs, else null. */
  get threadId(): number | null {
    return this.worker?.threadId ?? null;
  }

  /** Stops the thread; the writes it held fail. The next write starts another. */
  async stop(): Promise<void> {
    const worker = this.worker;
    if (worker !== null) await worker.terminate();
  }

  private send(): void {
    const batch = this.queued;
    this.queued = null;
    if (batch === null) return;
    let worker: Worker;
    try {
      worker = this.thread();
    } catch (error) {
      // Thrown here, it would be uncaught (this runs from setImmediate) and end the process.
      const cause = error instanceof Error ? error.message : String(error);
      for (const { reject } of batch.settle) reject(new Error(`the file writer thread could not start (${cause})`));
      return;
    }
    const id = this.nextBatch++;
    this.inFlight.set(id, batch);
    worker.ref();
    worker.postMessage({ batch: id, writes: batch.writes });
  }

  private thread(): Worker {
    if (this.worker !== null) return this.worker;
    const worker = this.startThread();
    worker.on("message", ({ batch, outcomes }: { batch: number; outcomes: Outcome[] }) => {
      const held = this.inFlight.get(batch);
      if (held === undefined) return;
      this.inFlight.delete(batch);
      if (this.inFlight.size === 0) worker.unref();
      held.settle.forEach(({ resolve, reject }, i) => {
        const outcome = outcomes[i];
        if (outcome === null || outcome === undefined) resolve();
        else reject(Object.assign(new Error(outcome.message), outcome));
      });
    });
    const lost = (cause: string) => {
      if (this.worker !== worker) return;
      this.worker = null;
      const held = [...this.inFlight.values()];
      this.inFlight.clear();
      for (const batch of held)
        for (const { reject } of batch.settle)
          reject(new Error(`the file writer thread ${cause} before the write ended`));
    };
    worker.on("error", (error) => lost(`failed (${error.message})`));
    worker.on("exit", (code) => lost(`exited with code ${code}`));
    worker.unref();
    this.worker = worker;
    return worker;
  }
}
