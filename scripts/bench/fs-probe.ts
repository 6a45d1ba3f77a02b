import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import path from "node:path";

/**
 * What creating a file costs on the filesystem of `dir` right now, in microseconds per file (mean
 * over `files` files of 4 KiB, created, written and closed as the worker stores an image). Printed
 * beside each drain run: on an ext4 without a journal (this machine's), the kernel skips each inode
 * freed in the last 60 to 360 s one at a time when it allocates a new one, so files created shortly
 * after thousands were deleted (by an earlier bench or test run) cost up to about 0.5 ms of kernel
 * CPU each instead of tens of microseconds, in the worker's process too.
 *
 * The files are left in place (they go with the bench's storage folder at the end): deleting them
 * here would slow the creations that follow in the same way.
 */
export function probeFileCreation(dir: string, files = 200): number {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const bytes = Buffer.alloc(4096, 1);
  const started = process.hrtime.bigint();
  for (let i = 0; i < files; i++) {
    const fd = openSync(path.join(dir, `probe-${i}.bin`), "wx", 0o600);
    try {
      writeSync(fd, bytes);
    } finally {
      closeSync(fd);
    }
  }
  return Number(process.hrtime.bigint() - started) / 1_000 / files;
}
