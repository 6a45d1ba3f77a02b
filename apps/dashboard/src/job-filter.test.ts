import { describe, expect, it } from "vitest";
import {
  EMPTY_FILTER,
  isFiltered,
  jobFilterBody,
  jobFilterQuery,
  matchesJobFilter,
  parseJobFilter,
} from "./job-filter";
import type { AdminJob } from "./types";

const job = (over: Partial<AdminJob> = {}): AdminJob =>
  ({
    id: "job_01KBCDEFGHJKMNPQRSTVWXYZ00",
    status: "failed",
    model: "gpt-4o-image",
    tenant_id: "ten_1",
    created_at: "2026-12-05T10:00:00.000Z",
    error: { code: "upstream_timeout", message: "", retryable: true },
    fallback_used: false,
    prompt: "A Lighthouse at dusk, oil-on-canvas",
    metadata: { user: "u_42", batch: 3, nested: { a: 1 } },
    ...over,
  }) as AdminJob;

describe("the console's filter", () => {
  it("round-trips through the address bar, leaving out what it does not know", () => {
    const search =
      "?status=failed,bogus,canceled&q=lighthouse&metadata=user%3Du_42&metadata=nokey&fallback_used=maybe&colour=red";
    const filter = parseJobFilter(search);
    expect(filter).toEqual({ status: ["failed", "canceled"], q: "lighthouse", metadata: ["user=u_42"] });
    expect(jobFilterQuery(filter)).toBe("status=failed%2Ccanceled&q=lighthouse&metadata=user%3Du_42");
    expect(parseJobFilter(`?${jobFilterQuery(filter)}`)).toEqual(filter);
    expect(jobFilterBody(parseJobFilter("?status=failed&fallback_used=true&metadata=a%3D1&metadata=b%3D2"))).toEqual({
      status: ["failed"],
      fallback_used: true,
      metadata: ["a=1", "b=2"],
    });
    expect(isFiltered(EMPTY_FILTER)).toBe(false);
    expect(isFiltered(filter)).toBe(true);
  });

  it("matches a live job by the API's rules: whole words of the prompt in any case, metadata as text", () => {
    const f = (search: string) => matchesJobFilter(parseJobFilter(search), job());
    expect(f("")).toBe(true);
    expect(f("q=LIGHTHOUSE%20dusk")).toBe(true);
    expect(f("q=canvas")).toBe(true);
    expect(f("q=light")).toBe(false);
    expect(f("q=job_01KBCDEFGHJKMNPQRSTVWXYZ00")).toBe(true);
    expect(f("q=job_01KBCDEFGHJKMNPQRSTVWXYZ11")).toBe(false);
    expect(f("metadata=batch%3D3&metadata=user%3Du_42")).toBe(true);
    expect(f("metadata=user%3Du_4")).toBe(false);
    expect(f("metadata=nested%3D1")).toBe(false);
    expect(f("status=failed,canceled&error_code=upstream_timeout&fallback_used=false")).toBe(true);
    expect(f("status=succeeded")).toBe(false);
    expect(f("fallback_used=true")).toBe(false);
    expect(f("tenant=ten_2")).toBe(false);
    expect(f("created_after=2026-12-05T10:00:00Z&created_before=2026-12-05T10:00:01Z")).toBe(true);
    expect(f("created_before=2026-12-05T10:00:00Z")).toBe(false);
  });
});
