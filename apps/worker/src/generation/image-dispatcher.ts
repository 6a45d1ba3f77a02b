import { createGuardedDispatcher } from "@darkroom/webhooks";
import type { Dispatcher } from "undici";
import type { WorkerConfig } from "../config";

/**
 * The connection pool of result-image downloads: webhooks' address guard, so that an image URL the
 * upstream names (or a redirect) that is, or resolves to, a loopback, private, link-local or
 * metadata address is refused at every connection, unless ALLOW_PRIVATE_IMAGE_URLS. Scheme, port
 * and host rules are downloadImage's (with the same `allowPrivate`).
 */
export function createImageDispatcher(
  images: Pick<WorkerConfig["images"], "allowPrivate" | "downloadTimeoutMs">,
  lookup?: Parameters<typeof createGuardedDispatcher>[0]["lookup"],
): Dispatcher {
  return createGuardedDispatcher({ allowPrivate: images.allowPrivate, timeoutMs: images.downloadTimeoutMs, lookup });
}
