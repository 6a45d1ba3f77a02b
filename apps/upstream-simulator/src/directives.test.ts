import { describe, expect, it } from "vitest";
import { parseSimulatorConfig } from "./config";
import { parseDirectives, parseGenerateSentence, parseScript, ScriptBook } from "./directives";

describe("directives", () => {
  it("reads [[sim]] blocks; later blocks win; bare flags are 1", () => {
    expect(parseDirectives("a cat [[sim lang=zh form=percent]] and [[sim lang=en crlf]]")).toEqual({
      lang: "en",
      form: "percent",
      crlf: "1",
    });
    expect(parseDirectives("no directives [[simulate x=1]]")).toEqual({});
  });

  it("reads the appended generate sentence", () => {
    expect(parseGenerateSentence("a cat\n\n(Generate 2 images, aspect ratio 3:2.)")).toEqual({
      n: 2,
      ratio: "3:2",
      userPrompt: "a cat",
    });
    expect(parseGenerateSentence("a cat\n\n(Generate 1 image.)")).toEqual({ n: 1, ratio: "1:1", userPrompt: "a cat" });
    expect(parseGenerateSentence("a cat")).toEqual({ n: 1, ratio: "1:1", userPrompt: "a cat" });
  });

  it("expands scripts and rejects unknown kinds", () => {
    expect(parseScript("http429*2,ok,truncate")).toEqual(["http429", "http429", "ok", "truncate"]);
    expect(parseScript(undefined)).toEqual([]);
    expect(() => parseScript("http429,oops")).toThrow(/oops/);
  });

  it("counts calls per prompt and scope", () => {
    const book = new ScriptBook();
    const script = parseScript("http500,http429");
    expect(book.next("shared", "p", script)).toEqual({ kind: "http500", call: 1 });
    expect(book.next("shared", "q", script)).toEqual({ kind: "http500", call: 1 });
    expect(book.next("shared", "p", script)).toEqual({ kind: "http429", call: 2 });
    expect(book.next("shared", "p", script)).toEqual({ kind: "ok", call: 3 });
    expect(book.next("images", "p", script)).toEqual({ kind: "http500", call: 1 });
  });

  it("parses its environment", () => {
    expect(parseSimulatorConfig({})).toEqual({ port: 4010, host: "127.0.0.1", stepMs: 150 });
    expect(parseSimulatorConfig({ SIMULATOR_PORT: "0", SIMULATOR_HOST: "0.0.0.0", SIMULATOR_STEP_MS: "5" })).toEqual({
      port: 0,
      host: "0.0.0.0",
      stepMs: 5,
    });
    expect(() => parseSimulatorConfig({ SIMULATOR_PORT: "abc" })).toThrow(/SIMULATOR_PORT/);
  });
});
