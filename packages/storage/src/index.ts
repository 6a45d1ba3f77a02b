import { createHash, webcrypto } from "node:crypto";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { FileWriterThread } from "./file-writer";

/** Where stored images live. Local disk by default; another backend implements the same four calls. */
export interface ImageStorage {
  put(key: string, bytes: Buffer): Promise<void>;
  /** The bytes, or null when nothing is stored under the key. */
  get(key: string): Promise<Buffer | null>;
  delete(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
}

const KEY_PATTERN = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_.-]+)*$/;

/**
 * Image files are readable by their owner only: the API and the worker run as one user (`node` in
 * the image), and generated images are tenants' data, not for other local accounts.
 */
export const STORED_FILE_MODE = 0o600;
/** Directories the storage creates (the root included when missing), owner only like the files. */
export const STORED_DIR_MODE = 0o700;

/**
 * Where a large image starts, for both of the event loop's costs of storing one. A smaller image is
 * hashed in place and written by the storage's own writer thread ({@link FileWriterThread}: the
 * writes asked for in one turn of the event loop go to it as one message), where a hand-off to
 * libuv's pool per step would cost more than the step. A large one is hashed and written on libuv's
 * thread pool: hashing a 1.5 MB result image in place would hold the event loop about 1.4 ms, and
 * the pool's writes need no copy of the bytes into a message.
 */
export const LARGE_IMAGE_BYTES = 256 * 1024;

/**
 * Stores each key as a file below `root`. Writes are atomic (temp file, then rename) and owner-only
 * ({@link STORED_FILE_MODE}, {@link STORED_DIR_MODE}; the umask can only remove bits). Each folder is
 * made once per process (the keys of {@link imageKey} share 256 of them), and again if it has gone.
 */
export class LocalDiskStorage implements ImageStorage {
  readonly root: string;
  /** Folders this process has made (or found) below the root. */
  private readonly folders = new Set<string>();
  /** Writes the images smaller than `largeImageBytes`; started on the first such write. */
  readonly writer = new FileWriterThread();

  /**
   * `largeImageBytes` moves the write's bound only (tests set it to reach each path with small
   * buffers); {@link digestImage}, called before `put`, always hashes by {@link LARGE_IMAGE_BYTES}.
   */
  constructor(
    root: string,
    private readonly largeImageBytes = LARGE_IMAGE_BYTES,
  ) {
    this.root = path.resolve(root);
  }

  private pathOf(key: string): string {
    if (!KEY_PATTERN.test(key) || key.includes("..")) throw new Error(`invalid storage key: ${key}`);
    return path.join(this.root, key);
  }

  async put(key: string, bytes: Buffer): Promise<void> {
    const file = this.pathOf(key);
    const folder = path.dirname(file);
    try {
      await this.write(folder, file, bytes);
    } catch (error) {
      // The folder was removed since this process made it (by hand, or a cleanup): make it again.
      if ((error as NodeJS.ErrnoException).code !== "ENOENT" || !this.folders.delete(folder)) throw error;
      await this.write(folder, file, bytes);
    }
  }

  private async write(folder: string, file: string, bytes: Buffer): Promise<void> {
    if (!this.folders.has(folder)) {
      await mkdir(folder, { recursive: true, mode: STORED_DIR_MODE });
      this.folders.add(folder);
    }
    const temp = `${file}.${process.pid}.${Date.now()}.tmp`;
    // The mode is set at creation, so the bytes are never readable by others, not even briefly.
    if (bytes.length < this.largeImageBytes) return this.writer.write(temp, file, bytes, STORED_FILE_MODE);
    try {
      await writeFile(temp, bytes, { mode: STORED_FILE_MODE });
      await rename(temp, file);
    } catch (error) {
      // As the writer thread does: a failed write leaves no temp file behind.
      await rm(temp, { force: true }).catch(() => undefined);
      throw error;
    }
  }

  async get(key: string): Promise<Buffer | null> {
    try {
      return await readFile(this.pathOf(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async exists(key: string): Promise<boolean> {
    try {
      await stat(this.pathOf(key));
      return true;
    } catch {
      return false;
    }
  }
}

/** The hex SHA-256 of an image's bytes: its content address, and the checksum recorded with it. */
export function imageDigest(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** {@link imageDigest}, computed off the event loop (WebCrypto, on libuv's pool) for a large image ({@link LARGE_IMAGE_BYTES}). */
export async function digestImage(bytes: Buffer): Promise<string> {
  if (bytes.length < LARGE_IMAGE_BYTES) return imageDigest(bytes);
  return Buffer.from(await webcrypto.subtle.digest("SHA-256", bytes)).toString("hex");
}

/**
 * The storage key of one image of one job, from its {@link imageDigest}: content-addressed so a re-run
 * never overwrites other bytes. The digest is passed in, so an image is hashed once, not twice. The
 * folder is the digest's first two hex digits: 256 folders in all, spread evenly, instead of one per
 * job (a folder per job was a `mkdir` per job, 3 % of a draining worker's CPU). Keys are stored with
 * their images, so images stored under the earlier `<job id>/<index>-…` keys are still found.
 */
export function imageKey(jobId: string, index: number, sha256: string, extension: string): string {
  return `${sha256.slice(0, 2)}/${jobId}-${index}-${sha256.slice(0, 16)}.${extension}`;
}
