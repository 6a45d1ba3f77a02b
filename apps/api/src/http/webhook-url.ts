import { AppError } from "@darkroom/domain";
import { checkWebhookUrl, type PrivateWebhookUrls } from "@darkroom/webhooks";

/**
 * Refuses (400 naming `field`) a webhook URL the worker would not deliver to: loopback, private,
 * link-local and metadata targets, by literal address or after DNS, unless ALLOW_PRIVATE_WEBHOOK_URLS
 * allows them. The delivery checks again when it connects, so a later DNS change cannot get around
 * this. A refusal for the address says which variable allows it, since that is what a developer
 * testing with a receiver on their own machine needs to know.
 */
export async function assertWebhookUrlAllowed(field: string, url: string, policy: PrivateWebhookUrls): Promise<void> {
  const check = await checkWebhookUrl(url, { allowPrivate: policy });
  if (check.ok) return;
  // Refused with every address allowed too: the URL itself is bad (scheme, credentials), not its target.
  const byAddress = (await checkWebhookUrl(url, { allowPrivate: true })).ok;
  const hint = byAddress
    ? "; non-public addresses are allowed only with ALLOW_PRIVATE_WEBHOOK_URLS=loopback (this machine, as `npm start` does in development) or =true (any address), never in production"
    : "";
  throw new AppError("validation_failed", `${field} is refused: ${check.reason}${hint}.`, {
    errors: [{ path: field, message: `is refused: ${check.reason}${hint}` }],
  });
}
