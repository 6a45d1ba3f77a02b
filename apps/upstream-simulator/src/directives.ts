/** `key=value` settings parsed from `[[sim …]]` blocks in a prompt. Later blocks win. */
export type Directives = Record<string, string>;

const DIRECTIVE_BLOCK = /\[\[sim((?:\s+[a-z_]+(?:=[^\s\]]*)?)*)\s*\]\]/gi;
const GENERATE_SENTENCE = /\s*\(Generate (\d+) images?(?:, aspect ratio (\d+:\d+))?\.\)\s*$/;

/** Every fault kind a `script=` (or `gen_script=`) entry may name. */
export const FAULT_KINDS = [
  "ok",
  "http400",
  "http401",
  "http403quota",
  "http403",
  "http404html",
  "http301",
  "http413",
  "http429",
  "http429quota",
  "http500invalid",
  "http500",
  "http502html",
  "http503nochannel",
  "http503",
  "http504",
  "http524html",
  "json200error",
  "wrongctype",
  "textplain",
  "reset",
  "noheaders",
  "slow",
  "midstream_error",
  "event_error",
  "vllm_error",
  "truncate",
  "reset_mid",
  "done_noimage",
  "content_filter",
  "policy_text",
  "stall",
  "stall_dots",
  "busy",
  "unknown_markers",
  "malformed_json",
  "img404",
  "img403",
  "img500",
  "img_html",
  "img_truncated",
  "img_slow",
  "gen_empty",
  "gen_badb64",
  "gen_url",
  "gen400policy",
  "gen400param",
  "gen429",
  "gen500",
  "gen_slow",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Reads all `[[sim …]]` blocks of a prompt. Flags without `=` read as `"1"`. */
export function parseDirectives(prompt: string): Directives {
  const out: Directives = {};
  for (const block of prompt.matchAll(DIRECTIVE_BLOCK)) {
    for (const pair of (block[1] ?? "").trim().split(/\s+/)) {
      if (pair === "") continue;
      const eq = pair.indexOf("=");
      const key = (eq === -1 ? pair : pair.slice(0, eq)).toLowerCase();
      out[key] = eq === -1 ? "1" : pair.slice(eq + 1);
    }
  }
  return out;
}

/** The image count and ratio of the sentence Darkroom appends; 1 image, 1:1 when absent. */
export function parseGenerateSentence(prompt: string): { n: number; ratio: string; userPrompt: string } {
  const match = GENERATE_SENTENCE.exec(prompt);
  if (match === null) return { n: 1, ratio: "1:1", userPrompt: prompt.trim() };
  const n = Math.min(10, Math.max(1, Number(match[1] ?? "1")));
  return { n, ratio: match[2] ?? "1:1", userPrompt: prompt.slice(0, match.index).trim() };
}

/** A directive as a non-negative integer, or `fallback`. */
export function intDirective(directives: Directives, key: string, fallback: number): number {
  const raw = directives[key];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  return Number.isFinite(value) && value >= 0 ? Math.floor(value) : fallback;
}

/**
 * Parses `kind,kind*3,ok` into a list of kinds. Unknown kinds throw, so a typo in a test's
 * schedule fails loudly instead of silently succeeding.
 */
export function parseScript(raw: string | undefined): FaultKind[] {
  if (raw === undefined || raw === "") return [];
  const out: FaultKind[] = [];
  for (const entry of raw.split(",")) {
    const [name = "", times = "1"] = entry.trim().split("*");
    if (!(FAULT_KINDS as readonly string[]).includes(name)) throw new Error(`unknown simulator fault kind "${name}"`);
    const count = Math.max(1, Number.parseInt(times, 10) || 1);
    for (let i = 0; i < count; i += 1) out.push(name as FaultKind);
  }
  return out;
}

/**
 * Counts calls per distinct prompt (the appended generate sentence removed, so a chat call and its
 * images/generations fallback share a key) and picks the scheduled fault for each call.
 */
export class ScriptBook {
  private readonly counters = new Map<string, number>();

  /** The kind for this call (`ok` past the end of the script) and the 1-based call number. */
  next(scope: string, key: string, script: FaultKind[]): { kind: FaultKind; call: number } {
    const counterKey = `${scope}\u0000${key}`;
    const call = (this.counters.get(counterKey) ?? 0) + 1;
    this.counters.set(counterKey, call);
    return { kind: script[call - 1] ?? "ok", call };
  }
}
