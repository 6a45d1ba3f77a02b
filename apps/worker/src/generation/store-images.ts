import type { StoredImageInput } from "@darkroom/db";
import { digestImage, type ImageStorage, imageKey } from "@darkroom/storage";
import { sniffImage, UpstreamError } from "@darkroom/upstream";

const EXTENSIONS: Record<string, string> = { "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp" };

/** Validates the bytes as an image and stores them; the stored row describes what was stored. */
export async function storeImage(
  storage: ImageStorage,
  jobId: string,
  index: number,
  bytes: Buffer,
  sourceUrl: string | null,
): Promise<StoredImageInput> {
  const sniffed = sniffImage(bytes);
  if (sniffed === null) {
    throw new UpstreamError({
      code: "no_image",
      errorClass: "bad_fallback_result",
      message: `Image ${index} is not a PNG, JPEG or WebP image.`,
      retryable: true,
      fallback: true,
    });
  }
  const sha256 = await digestImage(bytes);
  const storageKey = imageKey(jobId, index, sha256, EXTENSIONS[sniffed.contentType] ?? "bin");
  await storage.put(storageKey, bytes);
  return {
    index,
    storageKey,
    contentType: sniffed.contentType,
    bytes: bytes.length,
    sha256,
    width: sniffed.width,
    height: sniffed.height,
    sourceUrl,
  };
}
