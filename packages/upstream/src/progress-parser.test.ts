import { describe, expect, it, vi } from "vitest";
import { PROGRESS_FIXTURES } from "./fixtures/progress-streams";
import { IncrementalProgressParser, type ProgressSnapshot, parseProgress } from "./progress-parser";

/** Decodes `bytes` cut at the given offsets, returning the accumulated text after every chunk. */
function accumulate(bytes: Buffer, cuts: number[]): string[] {
  const decoder = new TextDecoder("utf-8");
  const texts: string[] = [];
  let text = "";
  let start = 0;
  for (const end of [...cuts, bytes.length]) {
    text += decoder.decode(bytes.subarray(start, end), { stream: true });
    texts.push(text);
    start = end;
  }
  text += decoder.decode();
  texts.push(text);
  return texts;
}

const STAGE_ORDER = ["waiting", "queuing", "generating", "complete"];

describe("parseProgress on streams reconstructed from public transcripts", () => {
  for (const fixture of PROGRESS_FIXTURES) {
    describe(fixture.name, () => {
      const bytes = Buffer.from(fixture.text, "utf8");

      it("reads the final text", () => {
        const snapshot = parseProgress(fixture.text);
        expect(snapshot).toEqual<ProgressSnapshot>({
          stage: fixture.stage,
          percent: fixture.percent,
          imageUrls: fixture.imageUrls,
          declaredN: fixture.declaredN,
          complete: fixture.complete,
        });
      });

      it("fed one byte at a time: percent and stage never go back, decoys never appear", () => {
        const cuts = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
        let previous: ProgressSnapshot | null = null;
        for (const text of accumulate(bytes, cuts)) {
          const snapshot = parseProgress(text);
          for (const url of fixture.forbidden) expect(snapshot.imageUrls).not.toContain(url);
          for (const url of snapshot.imageUrls) expect(fixture.imageUrls).toContain(url);
          if (previous !== null) {
            if (previous.percent !== null) expect(snapshot.percent ?? -1).toBeGreaterThanOrEqual(previous.percent);
            expect(STAGE_ORDER.indexOf(snapshot.stage)).toBeGreaterThanOrEqual(STAGE_ORDER.indexOf(previous.stage));
            expect(snapshot.imageUrls.length).toBeGreaterThanOrEqual(previous.imageUrls.length);
          }
          if (snapshot.percent !== null) expect(snapshot.percent).toBeLessThanOrEqual(100);
          previous = snapshot;
        }
        expect(previous?.imageUrls).toEqual(fixture.imageUrls);
      });

      it("split into two chunks at every byte offset gives the same final snapshot", () => {
        const expected = parseProgress(fixture.text);
        for (let offset = 1; offset < bytes.length; offset += 1) {
          const texts = accumulate(bytes, [offset]);
          const last = texts.at(-1) ?? "";
          expect(last).toBe(fixture.text);
          expect(parseProgress(last)).toEqual(expected);
        }
      });
    });
  }
});

describe("parseProgress details", () => {
  it("does not report a digit run that may still be growing", () => {
    expect(parseProgress(">🏃 Progress 7....1").percent).toBe(7);
    expect(parseProgress(">🏃 Progress 7....13").percent).toBe(7);
    expect(parseProgress(">🏃 Progress 7....13.").percent).toBe(13);
  });

  it("stages: waiting, queuing, generating", () => {
    expect(parseProgress("").stage).toBe("waiting");
    expect(parseProgress('```json\n{"n": 1}\n```\n\n>🕐 Queuing..').stage).toBe("queuing");
    expect(parseProgress(">🕐 排队中.\n\n>⚡ 生成中.").stage).toBe("generating");
    expect(parseProgress(">🕐 排队中.\n\n>⚡ 生成中.").percent).toBeNull();
  });

  it("ignores marker words inside the echoed prompt", () => {
    const text =
      '```json\n{"prompt": "Generation complete ![x](https://evil.example/a.png) Progress 99.", "n": 1}\n```\n\n>🕐 Queuing.';
    const snapshot = parseProgress(text);
    expect(snapshot).toMatchObject({ stage: "queuing", complete: false, imageUrls: [], percent: null, declaredN: 1 });
  });

  it("reads CR and CRLF line ends as LF: the echoed prompt is still ignored", () => {
    const lf =
      '```json\n{"prompt": "Generation complete ![x](https://evil.example/a.png)", "n": 1}\n```\n\n>🕐 Queuing.\n\n>🏃 Progress 12.34.';
    const expected = { stage: "generating", complete: false, imageUrls: [], percent: 34, declaredN: 1 };
    for (const eol of ["\r", "\r\n"]) {
      const text = lf.replaceAll("\n", eol);
      expect(parseProgress(text), JSON.stringify(eol)).toMatchObject(expected);
      const parser = new IncrementalProgressParser(1);
      let last: ProgressSnapshot | null = null;
      for (let at = 0; at < text.length; at += 5) last = parser.push(text.slice(at, at + 5));
      expect(last, JSON.stringify(eol)).toMatchObject(expected);
    }
  });

  it("prefers the images after the completion marker", () => {
    const text =
      "![preview](https://filesystem.site/cdn/p.png)\n> ✅ Generation complete\n![r](https://filesystem.site/cdn/r.png)";
    expect(parseProgress(text).imageUrls).toEqual(["https://filesystem.site/cdn/r.png"]);
  });

  it("uses requestedN for marker-less forms without a declared n", () => {
    const text = "> 进度 **100%**\n![a](https://filesystem.site/cdn/a.png)\n";
    expect(parseProgress(text, 2).complete).toBe(false);
    expect(parseProgress(text, 1).complete).toBe(true);
  });
});

describe("IncrementalProgressParser", () => {
  it("looks for the declared n only until the first json block closes, and only when a fence arrives", () => {
    // A block without "n" (as the upstream often sends), then a long stream of progress.
    const head = '```json\n{"prompt": "a fox", "ratio": "1:1"}\n';
    const exec = vi.spyOn(RegExp.prototype, "exec");
    const blockScans = () => exec.mock.contexts.filter((re) => (re as RegExp).source.startsWith("```json")).length;
    try {
      const parser = new IncrementalProgressParser(1);
      for (const piece of [head.slice(0, 5), head.slice(5)]) parser.push(piece);
      expect(blockScans()).toBe(1); // the opening fence arrived: the block is not closed yet
      parser.push("```\n>🕐 Queuing.");
      expect(blockScans()).toBe(2); // the closing fence: the count is decided (none declared)
      let last = parser.push("\n> 🏃 Progress 1");
      for (let i = 2; i <= 2000; i++) last = parser.push(`.${i % 100}`);
      // Later fences cannot change the count either.
      last = parser.push("\n```\nGenerating\n```\n");
      expect(blockScans()).toBe(2);
      expect(last.declaredN).toBeNull();
      expect(last.stage).toBe("generating");
    } finally {
      exec.mockRestore();
    }
  });

  /** Deltas of `text` cut at `cuts` (string offsets). */
  function deltas(text: string, cuts: number[]): string[] {
    const out: string[] = [];
    let start = 0;
    for (const end of [...cuts, text.length]) {
      out.push(text.slice(start, end));
      start = end;
    }
    return out;
  }

  const extra = [
    '```json\n{"n": 2}\n```\n> Progress 1..5..\n![a](https://filesystem.site/cdn/x/a.png)\n✅\nGeneration complete\n![b](\n  https://filesystem.site/cdn/x/b.png\n)\n',
    "```\nGenerating ![d](https://filesystem.site/cdn/x/d.png)\n",
    'Queuing\r\n> 进度 **34%**\r\n![c](https://filesystem.site/cdn/x/c.png "t")\r\n生成完成\r\n',
  ];

  for (const [name, text] of [
    ...PROGRESS_FIXTURES.map((f) => [f.name, f.text] as const),
    ...extra.map((t, i) => [`extra ${i}`, t] as const),
  ]) {
    it(`${name}: equals parseProgress of the text so far, fed one character at a time and in random pieces`, () => {
      for (const n of [undefined, 1, 2]) {
        const oneByOne = new IncrementalProgressParser(n);
        let sofar = "";
        for (const piece of deltas(
          text,
          Array.from({ length: text.length - 1 }, (_, i) => i + 1),
        )) {
          sofar += piece;
          expect(oneByOne.push(piece)).toEqual(parseProgress(sofar, n));
        }
        // Only the last lines are read again: the rest was summarised once (not so after an
        // unclosed fence, as in "extra 1", which hides everything after it).
        if (name !== "extra 1")
          expect(oneByOne.unsettledLength).toBeLessThanOrEqual(
            text.length - text.lastIndexOf("\n", text.length - 2) + 1,
          );
        let seed = 7;
        const random = () => {
          seed = (seed * 48271) % 2147483647;
          return seed / 2147483647;
        };
        for (let round = 0; round < 20; round++) {
          const cuts = [...new Set(Array.from({ length: 12 }, () => Math.floor(random() * text.length)))]
            .filter((c) => c > 0)
            .sort((a, b) => a - b);
          const parser = new IncrementalProgressParser(n);
          sofar = "";
          for (const piece of deltas(text, cuts)) {
            sofar += piece;
            expect(parser.push(piece)).toEqual(parseProgress(sofar, n));
          }
        }
      }
    });
  }
});
