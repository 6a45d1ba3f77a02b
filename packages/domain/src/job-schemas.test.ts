import { describe, expect, it } from "vitest";
import { hasLoneSurrogate, JobCreateSchema, LONE_SURROGATE_MESSAGE, METADATA_MAX_DEPTH } from "./job-schemas";

/** Parses raw JSON text (so `\udfff` escapes arrive as lone surrogates) and returns path -> message. */
function issuesOf(raw: string): Record<string, string> {
  const result = JobCreateSchema.safeParse(JSON.parse(raw));
  if (result.success) return {};
  return Object.fromEntries(result.error.issues.map((i) => [i.path.map(String).join("."), i.message]));
}

/** `levels` objects inside each other, the outermost being metadata itself. */
const nested = (levels: number) => `${'{"a":'.repeat(levels)}1${"}".repeat(levels)}`;

describe("JobCreateSchema text that cannot be stored", () => {
  it("tells lone surrogates from paired ones", () => {
    expect(hasLoneSurrogate("a\udfffb")).toBe(true);
    expect(hasLoneSurrogate("a\ud800")).toBe(true);
    expect(hasLoneSurrogate("\udc00\ud800")).toBe(true);
    expect(hasLoneSurrogate("💥 \ud83d\udca5 plain")).toBe(false);
    expect(hasLoneSurrogate("")).toBe(false);
  });

  it("refuses a lone surrogate in metadata values and keys, nested too, by path", () => {
    expect(issuesOf('{"prompt":"ok","metadata":{"k":"a\\udfffb"}}')).toEqual({ "metadata.k": LONE_SURROGATE_MESSAGE });
    expect(issuesOf('{"prompt":"ok","metadata":{"a\\ud800":1}}')).toEqual({
      "metadata.a\\ud800": `key ${LONE_SURROGATE_MESSAGE}`,
    });
    expect(issuesOf('{"prompt":"ok","metadata":{"x":{"y":[1,"\\udc00"]}}}')).toEqual({
      "metadata.x.y.1": LONE_SURROGATE_MESSAGE,
    });
    expect(issuesOf('{"prompt":"ok","metadata":{"x":[{"\\udbff":true}]}}')).toEqual({
      "metadata.x.0.\\udbff": `key ${LONE_SURROGATE_MESSAGE}`,
    });
    expect(issuesOf('{"prompt":"ok","metadata":{"pair":"\\ud83d\\udca5"}}')).toEqual({});
  });

  it("refuses a lone surrogate in prompt and webhook_url", () => {
    expect(issuesOf('{"prompt":"a\\udfffb"}')).toEqual({ prompt: LONE_SURROGATE_MESSAGE });
    expect(issuesOf('{"prompt":"x","webhook_url":"https://example.com/\\ud800"}')).toEqual({
      webhook_url: LONE_SURROGATE_MESSAGE,
    });
  });

  it("refuses numbers JSON turns into Infinity in metadata instead of storing null", () => {
    const huge = "9".repeat(400);
    expect(issuesOf(`{"prompt":"x","metadata":{"a":1e400,"b":[-${huge}],"c":1e308}}`)).toEqual({
      "metadata.a": "must be a finite number (at most about 1.8e308)",
      "metadata.b.0": "must be a finite number (at most about 1.8e308)",
    });
  });

  it(`accepts metadata nested ${METADATA_MAX_DEPTH} levels and refuses ${METADATA_MAX_DEPTH + 1}`, () => {
    expect(issuesOf(`{"prompt":"x","metadata":${nested(METADATA_MAX_DEPTH)}}`)).toEqual({});
    expect(issuesOf(`{"prompt":"x","metadata":${nested(METADATA_MAX_DEPTH + 1)}}`)).toEqual({
      metadata: `must be nested at most ${METADATA_MAX_DEPTH} levels deep`,
    });
  });
});
