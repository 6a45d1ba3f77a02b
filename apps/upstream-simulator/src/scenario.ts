import { createHash } from "node:crypto";
import type { ImageFault, SimContext } from "./context";
import { type Directives, type FaultKind, intDirective } from "./directives";
import { makeImageId, RATIO_SIZES } from "./image-store";

const IMAGE_FAULTS: Partial<Record<FaultKind, ImageFault["kind"]>> = {
  img404: "404",
  img403: "403",
  img500: "500",
  img_html: "html",
  img_truncated: "truncated",
  img_slow: "slow",
};

/** The URLs one chat answer will show. */
export interface PlannedImages {
  result: Array<{ alt: string; url: string; downloadUrl: string }>;
  decoyUrl: string;
  previewUrl: string;
}

/** Today's date as the file host writes it in paths (`20250623`). */
function datePath(): string {
  return new Date().toISOString().slice(0, 10).replace(/-/g, "");
}

/**
 * Chooses image ids for a call (deterministic from `seed`), registers any image host fault or
 * expiry the directives ask for, and builds the result, decoy and preview URLs.
 */
export function planImages(
  sim: SimContext,
  seed: string,
  n: number,
  ratio: string,
  directives: Directives,
  kind: FaultKind,
): PlannedImages {
  const size = RATIO_SIZES[ratio] ?? { width: 1024, height: 1024 };
  const base = sim.baseUrl();
  const date = datePath();
  const faultKind = IMAGE_FAULTS[kind];
  const expireMs = intDirective(directives, "img_expire_ms", 0);
  const result = Array.from({ length: n }, (_, index) => {
    const id = makeImageId(`${seed}\u0000${index}`, size.width, size.height);
    if (faultKind !== undefined) {
      sim.imageFaults.set(id, {
        kind: faultKind,
        remaining: intDirective(directives, "img_fail_times", Number.MAX_SAFE_INTEGER),
        delayMs: intDirective(directives, "img_delay_ms", 5000),
      });
    }
    if (expireMs > 0) sim.imageExpiry.set(id, Date.now() + expireMs);
    const gen = createHash("sha256").update(id).digest("hex").slice(0, 26);
    return {
      alt: `gen_01${gen}`,
      url: `${base}/cdn/${date}/${id}.png`,
      downloadUrl: `${base}/cdn/download/${date}/${id}.png`,
    };
  });
  const decoyId = makeImageId(`decoy\u0000${seed}`, size.width, size.height);
  const task = createHash("sha256").update(`task\u0000${seed}`).digest("hex").slice(0, 24);
  return {
    result,
    decoyUrl: `${base}/vg-assets/assets/task_${task}/${decoyId}.png?st=2025-06-23T10%3A00%3A00Z&se=2025-06-29T11%3A00%3A00Z&sp=r&sig=${task}`,
    previewUrl: `${base}/asyncdata/web/task_${task}`,
  };
}
