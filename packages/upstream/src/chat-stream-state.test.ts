import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { consumeSse } from "./chat-stream";
import { ChatStreamState } from "./chat-stream-state";
import type { ProgressSnapshot } from "./progress-parser";

const PIECES = [
  '```json\n{"prompt":"cat","ratio":"1:1","n":1}\n```\n\n',
  ">🕐 Queuing",
  "..",
  "\n\n>⚡ Generating.",
  "\n\n>🏃 Progress 7..",
  "1",
  "3..",
  "2",
  "5...",
  "[100](https://videos.openai.com/x/src_0.png?sig=1)",
  "\n\n> ✅ Generation complete\n\n",
  "![gen_01](https://filesystem.site/cdn/20250623/a.png)\n\n[Click to download](https://filesystem.site/cdn/download/20250623/a.png)\n",
];

function chunk(delta: Record<string, unknown>, finish: string | null = null): string {
  return JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion.chunk",
    choices: [{ index: 0, delta, finish_reason: finish }],
    usage: null,
  });
}

function recording(options: { crlf?: boolean; nospace?: boolean; tail?: string[] } = {}): Buffer {
  const data = options.nospace ? "data:" : "data: ";
  const frames = [`${data}${chunk({ role: "assistant", content: "" })}\n\n`, ": PING\n\n"];
  for (const piece of PIECES) frames.push(`${data}${chunk({ content: piece })}\n\n`);
  frames.push(
    ...(options.tail ?? [
      `${data}${chunk({}, "stop")}\n\n`,
      `${data}{"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":80,"total_tokens":89}}\n\n`,
      `${data}[DONE]\n\n`,
    ]),
  );
  const text = frames.join("");
  return Buffer.from(options.crlf ? text.replace(/\n/g, "\r\n") : text, "utf8");
}

async function run(bytes: Buffer, cuts: number[]) {
  const chunks: Buffer[] = [];
  let start = 0;
  for (const end of [...cuts, bytes.length]) {
    chunks.push(bytes.subarray(start, end));
    start = end;
  }
  const snapshots: ProgressSnapshot[] = [];
  const state = new ChatStreamState(1, 200, (s) => snapshots.push(s));
  await consumeSse(Readable.from(chunks), state, () => {});
  return { state, snapshots, outcome: state.conclude() };
}

describe("SSE consumption", () => {
  for (const variant of [{}, { crlf: true }, { nospace: true }]) {
    it(`survives a split at every byte offset ${JSON.stringify(variant)}`, async () => {
      const bytes = recording(variant);
      for (let offset = 1; offset < bytes.length; offset++) {
        const { state, outcome, snapshots } = await run(bytes, [offset, Math.min(bytes.length, offset + 3)]);
        expect(outcome).toEqual({ imageUrls: ["https://filesystem.site/cdn/20250623/a.png"] });
        expect(state.usage).toEqual({ prompt_tokens: 9, completion_tokens: 80, total_tokens: 89 });
        expect(state.text).toBe(PIECES.join(""));
        const percents = snapshots.map((s) => s.percent ?? 0);
        expect(percents).toEqual([...percents].sort((a, b) => a - b));
      }
    });
  }

  it("one byte per read", async () => {
    const bytes = recording();
    const { outcome, snapshots } = await run(
      bytes,
      Array.from({ length: bytes.length - 1 }, (_, i) => i + 1),
    );
    expect(outcome).toEqual({ imageUrls: ["https://filesystem.site/cdn/20250623/a.png"] });
    expect([...new Set(snapshots.map((s) => s.percent))]).toEqual([null, 7, 13, 25, 100]);
    expect(snapshots.map((s) => s.stage)).toEqual([
      "waiting",
      "queuing",
      "generating",
      "generating",
      "generating",
      "generating",
      "generating",
      "complete",
      "complete",
    ]);
    expect(snapshots.at(-1)?.imageUrls).toEqual(["https://filesystem.site/cdn/20250623/a.png"]);
  });

  it("EOF without [DONE] mid-progress is truncated", async () => {
    const bytes = recording({ tail: [] }).subarray(0, 1500);
    const { outcome } = await run(bytes, []);
    expect(outcome).toMatchObject({ code: "stream_truncated", errorClass: "truncated", fallback: true });
  });

  it("three malformed lines in a row are protocol noise; one is skipped", async () => {
    const bad = 'data: {"choices":[{"delta":{"content":"\n\n';
    const one = await run(recording({ tail: [bad, `data: ${chunk({}, "stop")}\n\n`, "data: [DONE]\n\n"] }), []);
    expect("imageUrls" in one.outcome).toBe(true);
    const three = await run(recording({ tail: [bad, bad, bad, "data: [DONE]\n\n"] }), []);
    expect(three.outcome).toMatchObject({ code: "stream_truncated", errorClass: "protocol_noise" });
  });

  it("event: error and vLLM errors are mid-stream errors", async () => {
    const evt = await run(
      recording({
        tail: ['event: error\ndata: {"error":{"message":"boom (request id: r1)","type":"server_error"}}\n\n'],
      }),
      [],
    );
    expect(evt.outcome).toMatchObject({ errorClass: "mid_stream_error", requestId: "r1", retryable: true });
    const vllm = await run(
      recording({ tail: ['data: {"object":"error","message":"engine dead","code":500}\n\n'] }),
      [],
    );
    expect(vllm.outcome).toMatchObject({ errorClass: "mid_stream_error" });
  });
});
