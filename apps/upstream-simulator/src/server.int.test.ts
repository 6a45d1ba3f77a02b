import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Simulator, startSimulator } from "./server";

let sim: Simulator;

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 2, pingMs: 15 });
});
afterAll(async () => {
  await sim.close();
});

function chat(content: string, auth = "Bearer sk-test") {
  return fetch(`${sim.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: auth, "content-type": "application/json" },
    body: JSON.stringify({
      model: "gpt-4o-image",
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content }],
    }),
  });
}

function dataLines(raw: string): string[] {
  return raw
    .split(/\r?\n/)
    .filter((line) => line.startsWith("data:"))
    .map((line) => line.replace(/^data: ?/, ""));
}

describe("chat completions stream", () => {
  it("speaks new-api SSE: headers, role chunk, pings, progress, stop, usage, [DONE]", async () => {
    const res = await chat("a cat\n\n(Generate 2 images, aspect ratio 2:3.)");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expect(res.headers.get("x-accel-buffering")).toBe("no");
    const requestId = res.headers.get("x-request-id");
    expect(requestId).toMatch(/^\d+[0-9a-f]+$/);
    const raw = await res.text();
    expect(raw).toContain(": PING\n\n");
    const lines = dataLines(raw);
    expect(lines.at(-1)).toBe("[DONE]");
    const chunks = lines.slice(0, -1).map(
      (line) =>
        JSON.parse(line) as {
          choices: Array<{ delta: { content?: string; role?: string }; finish_reason: string | null }>;
          usage: unknown;
        },
    );
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: "assistant", content: "" });
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe("stop");
    expect(chunks.at(-1)?.choices).toEqual([]);
    expect(chunks.at(-1)?.usage).toMatchObject({
      prompt_tokens: expect.any(Number),
      completion_tokens: expect.any(Number),
    });
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
    expect(text).toMatch(/"ratio": "2:3"/);
    expect(text).toMatch(/"n": 2/);
    const progress = /Progress ([\d.]+)\[100\]\((http[^)]+)\)/.exec(text);
    const numbers = new Set((progress?.[1] ?? "").split(/\.+/).filter(Boolean));
    expect(numbers.size).toBeGreaterThanOrEqual(5);
    const images = [...text.matchAll(/!\[gen_\w+\]\((http[^)]+)\)/g)].map((m) => m[1] ?? "");
    expect(images).toHaveLength(2);
    expect(text.match(/\[Click to download\]\(http[^)]+\/cdn\/download\/\d{8}\/[\w-]+\.png\)/g)).toHaveLength(2);
    const decoy = progress?.[2] ?? "";
    const [first, decoyBytes] = await Promise.all(
      [images[0] ?? "", decoy].map(async (url) => Buffer.from(await (await fetch(url)).arrayBuffer())),
    );
    expect(first?.readUInt32BE(16)).toBe(1024);
    expect(first?.readUInt32BE(20)).toBe(1536);
    expect(decoyBytes?.subarray(0, 4).toString("latin1")).toBe("\x89PNG");
    expect(first?.equals(decoyBytes ?? Buffer.alloc(0))).toBe(false);
    const download = Buffer.from(
      await (await fetch((images[0] ?? "").replace("/cdn/", "/cdn/download/"))).arrayBuffer(),
    );
    expect(download.equals(first ?? Buffer.alloc(0))).toBe(true);
    expect(sim.calls.find((c) => c.requestId === requestId)).toMatchObject({
      path: "/v1/chat/completions",
      model: "gpt-4o-image",
      closedByClient: false,
    });
  });

  it("writes CRLF frames and data: without a space on request", async () => {
    const raw = await (await chat("crlf [[sim crlf=1 nospace=1 split=5]]")).text();
    expect(raw).toContain('\r\n\r\ndata:{"id"');
    expect(raw).not.toMatch(/[^\r]\n/);
  });

  it("Chinese, asyncdata and percent forms", async () => {
    const zh = await (await chat("猫 [[sim lang=zh form=asyncdata]]")).text();
    const zhText = dataLines(zh)
      .filter((l) => l.startsWith("{"))
      .map(
        (l) => (JSON.parse(l) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? "",
      )
      .join("");
    expect(zhText).toMatch(/> ID: `[0-9a-f-]{36}`/);
    expect(zhText).toContain("生成完成 ✅");
    expect(zhText).toContain("[点击下载](");
    const pct = await (await chat("猫 [[sim lang=zh form=percent]]")).text();
    expect(pct).toContain("%**");
    expect(pct).toContain("referenced_image_ids");
  });
});

function contentOf(raw: string): string {
  return dataLines(raw)
    .filter((l) => l.startsWith("{"))
    .map((l) => (JSON.parse(l) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? "")
    .join("");
}

describe("resilience faults and the newer form", () => {
  it("newer form: an ID line, 🎨 生成中 with dots, images, no progress numbers, no completion marker", async () => {
    const text = contentOf(await (await chat("猫 [[sim lang=zh form=newer]]")).text());
    expect(text).toMatch(/^> ID: `[0-9a-f-]{36}`$/m);
    expect(text).toMatch(/> 🎨 生成中\.{4,}/);
    expect(text).toMatch(/!\[gen_01[0-9a-f]+\]\(http:\/\/127\.0\.0\.1:\d+\/cdn\//);
    expect(text).not.toMatch(/进度|生成完成/);
  });

  it("busy: the overload notice, stop and [DONE], no image (English and Chinese)", async () => {
    const en = await (await chat("cat [[sim script=busy]]")).text();
    expect(contentOf(en)).toContain("Lots of people are creating images right now");
    expect(contentOf(en)).not.toContain("![");
    expect(en).toContain('"finish_reason":"stop"');
    expect(en).toContain("data: [DONE]");
    const zh = contentOf(await (await chat("猫 [[sim script=busy lang=zh]]")).text());
    expect(zh).toContain("目前有很多人在创建图片");
  });

  it("stall_dots: pings and dots go on while the progress number stands; resumes after stall_ms", async () => {
    const started = Date.now();
    // 30 dots on time; 8 in a row still come when a loaded machine runs each 20 ms sleep at 75 ms
    // (with a 200 ms stall, one full suite run had only 4 or 5 in a row).
    const raw = await (await chat("cat [[sim script=stall_dots dot_ms=20 stall_ms=600 ping_ms=30]]")).text();
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    expect(raw).toContain(": PING");
    const text = contentOf(raw);
    expect(text).toMatch(/\d\.{8,}/); // at least 8 dots in a row after a number while stalled
    expect(text).toContain("Generation complete");
  });

  it("unknown_markers: progress in an unknown format, stop, [DONE], no image", async () => {
    const raw = await (await chat("cat [[sim script=unknown_markers]]")).text();
    const text = contentOf(raw);
    expect(text).toContain("Rendering your picture");
    expect(text).not.toMatch(/Queuing|Generating|Progress|!\[/);
    expect(raw).toContain("data: [DONE]");
  });
});

describe("errors and faults", () => {
  it("401 envelope for a missing key, HTML 404 for unknown paths", async () => {
    const res = await chat("x", "Bearer ");
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: { message: string; type: string; param: string; code: string } };
    expect(body.error).toMatchObject({ type: "comet_api_error", param: "", code: "" });
    expect(body.error.message).toMatch(/\(request id: \w+\)$/);
    const page = await fetch(`${sim.url}/v1/chat/complete`, { method: "POST" });
    expect(page.status).toBe(404);
    expect(page.headers.get("content-type")).toContain("text/html");
  });

  it("429 carries retry headers; 301 a location; the script advances per prompt", async () => {
    const prompt = "sched [[sim script=http429,http301,ok retry_after=2 retry_after_ms=1500]]";
    const first = await chat(prompt);
    expect(first.status).toBe(429);
    expect(first.headers.get("retry-after")).toBe("2");
    expect(first.headers.get("retry-after-ms")).toBe("1500");
    const second = await fetch(`${sim.url}/v1/chat/completions`, {
      method: "POST",
      redirect: "manual",
      headers: { authorization: "Bearer k" },
      body: JSON.stringify({ model: "gpt-4o-image", stream: true, messages: [{ role: "user", content: prompt }] }),
    });
    expect(second.status).toBe(301);
    expect(second.headers.get("location")).toMatch(/\/v1\/chat\/completions\/$/);
    expect((await chat(prompt)).status).toBe(200);
  });

  it("unknown fault kinds are a 400 naming the kind", async () => {
    const res = await chat("x [[sim script=nope]]");
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("nope");
  });

  it("serves many concurrent streams without a listener-leak warning", async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on("warning", onWarning);
    try {
      const bodies = await Promise.all(Array.from({ length: 20 }, (_, i) => chat(`a cat ${i}`).then((r) => r.text())));
      expect(bodies.every((body) => body.includes("[DONE]"))).toBe(true);
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings.filter((w) => w.startsWith("MaxListenersExceededWarning"))).toEqual([]);
  });

  it("records a client that hangs up", async () => {
    const controller = new AbortController();
    const res = await fetch(`${sim.url}/v1/chat/completions`, {
      method: "POST",
      signal: controller.signal,
      headers: { authorization: "Bearer k" },
      body: JSON.stringify({
        model: "gpt-4o-image",
        stream: true,
        messages: [{ role: "user", content: "hang up [[sim step_ms=50]]" }],
      }),
    });
    expect(res.status).toBe(200);
    controller.abort();
    await expect
      .poll(() => sim.calls.find((c) => c.prompt === "hang up [[sim step_ms=50]]")?.closedByClient)
      .toBe(true);
  });
});

describe("images/generations", () => {
  it("returns n base64 PNGs and token usage", async () => {
    const res = await fetch(`${sim.url}/v1/images/generations`, {
      method: "POST",
      headers: { authorization: "Bearer k", "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-image-1", prompt: "a boat", n: 2, size: "1024x1536" }),
    });
    const body = (await res.json()) as {
      created: number;
      data: Array<{ b64_json: string }>;
      usage: Record<string, unknown>;
    };
    expect(body.data).toHaveLength(2);
    const png = Buffer.from(body.data[0]?.b64_json ?? "", "base64");
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1024, 1536]);
    expect(body.usage).toMatchObject({
      input_tokens_details: { text_tokens: expect.any(Number), image_tokens: 0 },
      total_tokens: expect.any(Number),
    });
  });
});

describe("shared schedules", () => {
  it("a chat call and its images fallback share the counter; gen_* kinds answer chat normally", async () => {
    const prompt = "shared [[sim script=http503nochannel,gen_empty,gen500,ok]]";
    expect((await chat(`${prompt}\n\n(Generate 1 image.)`)).status).toBe(503);
    const gen = (await (
      await fetch(`${sim.url}/v1/images/generations`, {
        method: "POST",
        headers: { authorization: "Bearer k" },
        body: JSON.stringify({ model: "gpt-image-1", prompt }),
      })
    ).json()) as { data: unknown[] };
    expect(gen.data).toEqual([]);
    expect((await chat(prompt)).status).toBe(200);
    const kinds = sim.calls.filter((c) => c.prompt?.startsWith(prompt)).map((c) => [c.path, c.call, c.kind]);
    expect(kinds).toEqual([
      ["/v1/chat/completions", 1, "http503nochannel"],
      ["/v1/images/generations", 2, "gen_empty"],
      ["/v1/chat/completions", 3, "gen500"],
    ]);
  });
});

describe("the key's quota", () => {
  const quota = async () =>
    (await (await fetch(`${sim.url}/api/usage/token`, { headers: { authorization: "Bearer sk-test" } })).json()) as {
      data: { total_available: number; unlimited_quota: boolean; expires_at: number };
    };
  const setQuota = (body: unknown) => fetch(`${sim.url}/_sim/quota`, { method: "POST", body: JSON.stringify(body) });

  it("is reported as new-api does, set over HTTP, and a used-up quota refuses generation with 403", async () => {
    expect((await quota()).data).toMatchObject({ unlimited_quota: true, expires_at: 0 });
    expect((await fetch(`${sim.url}/api/usage/token`)).status).toBe(401);
    const bad = await setQuota({ total_available: "lots" });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/total_available must be a number/);
    expect((await setQuota({ unlimited_quota: false, total_available: 0 })).status).toBe(200);
    expect((await quota()).data).toMatchObject({ unlimited_quota: false, total_available: 0 });
    const refused = await chat("a used-up quota");
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("insufficient_user_quota");
    sim.setQuota({ total_available: 10 });
    expect((await chat("quota again")).status).toBe(200);
    sim.setQuota({ unlimited_quota: true });
  });
});

describe("a model failing at a set rate", () => {
  const setFault = (body: unknown) =>
    fetch(`${sim.url}/_sim/model-faults`, { method: "POST", body: JSON.stringify(body) });
  const images = (prompt: string) =>
    fetch(`${sim.url}/v1/images/generations`, {
      method: "POST",
      headers: { authorization: "Bearer sk-test", "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-image-1", prompt }),
    });

  it("fails that model's calls at the rate, deterministically, whatever the prompt; 0 removes it", async () => {
    const bad = await setFault({ model: "gpt-4o-image", fail_rate: 2 });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/fail_rate must be a number in 0\.\.1/);
    expect((await setFault({ model: "gpt-4o-image", fail_rate: 0.5, kind: "nope" })).status).toBe(400);
    const set = await setFault({ model: "gpt-4o-image", fail_rate: 0.5 });
    expect(await set.json()).toEqual([{ model: "gpt-4o-image", fail_rate: 0.5, kind: null, calls: 0 }]);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i += 1) {
      const res = await chat(`rated ${i}`);
      statuses.push(res.status);
      await res.text();
    }
    expect(statuses).toEqual([200, 500, 200, 500, 200, 500]);
    // Other models are not touched; a model of its own gets its own rate and kind.
    expect((await images("rated image")).status).toBe(200);
    sim.setModelFault({ model: "gpt-image-1", fail_rate: 1, kind: "gen400policy" });
    const refused = await images("rated image 2");
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("moderation_blocked");
    expect((await setFault({ model: "gpt-4o-image", fail_rate: 0 })).status).toBe(200);
    sim.setModelFault({ model: "gpt-image-1", fail_rate: 0 });
    const after = await chat("rated after");
    expect(after.status).toBe(200);
    await after.text();
    expect((await images("rated image 3")).status).toBe(200);
  });
});
