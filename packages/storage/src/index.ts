import { createHash } from "node:crypto";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";

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
 * Stores each key as a file below `root`. Writes are atomic (temp file, then rename) and owner-only
 * ({@link STORED_FILE_MODE}, {@link STORED_DIR_MODE}; the umask can only remove bits).
 */
export class LocalDiskStorage implements ImageStorage {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  private pathOf(key: string): string {
    if (!KEY_PATTERN.test(key) || key.includes("..")) throw new Error(`invalid storage key: ${key}`);
    return path.join(this.root, key);
  }

  async put(key: string, bytes: Buffer): Promise<void> {
    const file = this.pathOf(key);
    await mkdir(path.dirname(file), { recursive: true, mode: STORED_DIR_MODE });
    const temp = `${file}.${process.pid}.${Date.now()}.tmp`;
    // The mode is set at creation, so the bytes are never readable by others, not even briefly.
    await writeFile(temp, bytes, { mode: STORED_FILE_MODE });
    await rename(temp, file);
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

/**
 * The storage key of one image of one job, from its {@link imageDigest}: content-addressed so a re-run
 * never overwrites other bytes. The digest is passed in, so an image is hashed once, not twice.
 */
export function imageKey(jobId: string, index: number, sha256: string, extension: string): string {
  return `${jobId}/${index}-${sha256.slice(0, 16)}.${extension}`;
}
