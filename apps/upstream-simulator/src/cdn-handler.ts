import type { RequestContext, SimContext } from "./context";
import { sendHtml, sleep } from "./http-helpers";

const IMAGE_PATH =
  /^\/(?:cdn\/(?:download\/)?(?:\d{8}\/)?|vg-assets\/(?:[\w.-]+\/)*)([0-9a-z_]+-\d{3,4}x\d{3,4})\.png$/;

/** True when `path` names an image on the simulated file host. */
export function isImagePath(path: string): boolean {
  return IMAGE_PATH.test(path);
}

/**
 * Serves `GET /cdn/<date>/<id>.png`, `/cdn/download/<date>/<id>.png` and the decoy
 * `/vg-assets/…/<id>.png`, applying registered image host faults and URL expiry.
 */
export async function handleImageGet(sim: SimContext, ctx: RequestContext, path: string): Promise<void> {
  const { res, signal } = ctx;
  const id = IMAGE_PATH.exec(path)?.[1];
  const png = id === undefined ? null : sim.images.png(id);
  if (id === undefined || png === null) {
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
    res.end("404 page not found");
    return;
  }
  const expiry = sim.imageExpiry.get(id);
  if (expiry !== undefined && Date.now() > expiry) {
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
    res.end("404 page not found");
    return;
  }
  const fault = sim.imageFaults.get(id);
  if (fault !== undefined && fault.remaining > 0) {
    fault.remaining -= 1;
    switch (fault.kind) {
      case "404":
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
        res.end("404 page not found");
        return;
      case "403":
        res.writeHead(403, { "content-type": "application/xml" });
        res.end(
          "<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code><Message>Access denied.</Message></Error>",
        );
        return;
      case "500":
        res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
        res.end("Internal Server Error");
        return;
      case "html":
        sendHtml(
          res,
          200,
          "<!DOCTYPE html><html><head><title>filesystem.site</title></head><body><p>Loading…</p></body></html>",
        );
        return;
      case "truncated":
        res.writeHead(200, { "content-type": "image/png", "content-length": png.length });
        res.write(png.subarray(0, Math.floor(png.length / 2)));
        ctx.markServerClosed();
        await sleep(20, signal);
        res.socket?.destroy();
        return;
      case "slow":
        if (!(await sleep(fault.delayMs, signal))) return;
        break;
    }
  }
  const headers: Record<string, string | number> = {
    "content-type": "image/png",
    "content-length": png.length,
    "cache-control": "public, max-age=86400",
  };
  if (path.startsWith("/cdn/download/")) headers["content-disposition"] = `attachment; filename="${id}.png"`;
  res.writeHead(200, headers);
  res.end(png);
}
