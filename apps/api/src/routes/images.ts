import { findImage, findJobForTenant } from "@darkroom/db";
import { AppError, IMAGE_URL_REFUSAL_MESSAGES, isId } from "@darkroom/domain";
import { type Request, type Response, Router } from "express";
import type { ApiDeps } from "../deps";
import { authenticateApiKey } from "../http/auth";
import { bearerToken } from "../http/context";

/** The raw query string of a request (without `?`), as sent: signed URLs are checked byte for byte. */
function rawQueryOf(req: Request): string {
  const at = req.originalUrl.indexOf("?");
  return at === -1 ? "" : req.originalUrl.slice(at + 1);
}

/**
 * `GET /v1/jobs/{id}/images/{index}`: with the API key of the job's tenant, or with the signed
 * `expires` + `signature` query of the job's `result.images[].url`. A request without a key that
 * names either parameter is a signed request: anything but the exact form Darkroom signs, an
 * expired URL or one whose expiry is further ahead than any it signs is refused (403).
 */
export function imagesRouter(deps: ApiDeps): Router {
  const router = Router();

  const authorize = async (req: Request, res: Response): Promise<void> => {
    const { id, index } = req.params as { id: string; index: string };
    if (bearerToken(req) === null && ("expires" in req.query || "signature" in req.query)) {
      // One index, one form: /images/01 is not the URL that was signed for /images/1.
      const refusal =
        String(Number(index)) === index ? deps.signer.check(id, Number(index), rawQueryOf(req)) : "not_canonical";
      if (refusal !== null) throw new AppError("forbidden", IMAGE_URL_REFUSAL_MESSAGES[refusal]);
      return;
    }
    const { tenantId } = await authenticateApiKey(deps, req, res);
    if ((await findJobForTenant(deps.db, tenantId, id)) === null) {
      throw new AppError("not_found", `No job ${id}.`);
    }
  };

  router.get("/v1/jobs/:id/images/:index", async (req, res) => {
    const { id, index } = req.params;
    if (!isId("job", id) || !/^\d{1,2}$/.test(index))
      throw new AppError("not_found", `No image ${index} of job ${id}.`);
    await authorize(req, res);
    const image = await findImage(deps.db, id, Number(index));
    if (image === null) throw new AppError("not_found", `No image ${index} of job ${id}.`);
    const bytes = await deps.storage.get(image.storageKey);
    if (bytes === null) throw new AppError("not_found", `The stored bytes of image ${index} of job ${id} are gone.`);
    res.setHeader("Content-Type", image.contentType);
    res.setHeader("Content-Length", String(bytes.length));
    res.setHeader("Cache-Control", "private, max-age=3600, immutable");
    res.setHeader("ETag", `"${image.sha256}"`);
    res.end(bytes);
  });

  return router;
}
