import { findImage, findJobForTenant } from "@darkroom/db";
import { AppError, isId } from "@darkroom/domain";
import { type Request, type Response, Router } from "express";
import type { ApiDeps } from "../deps";
import { authenticateApiKey } from "../http/auth";
import { bearerToken } from "../http/context";

/**
 * `GET /v1/jobs/{id}/images/{index}`: with the API key of the job's tenant, or with the signed
 * `expires` + `signature` query of the job's `result.images[].url`.
 */
export function imagesRouter(deps: ApiDeps): Router {
  const router = Router();

  const authorize = async (req: Request, res: Response): Promise<void> => {
    const { id, index } = req.params as { id: string; index: string };
    const { expires, signature } = req.query;
    if (typeof expires === "string" && typeof signature === "string" && bearerToken(req) === null) {
      if (!deps.signer.verify(id, Number(index), expires, signature)) {
        throw new AppError(
          "forbidden",
          "The image URL's signature is invalid or has expired; fetch the job again for a fresh URL.",
        );
      }
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
