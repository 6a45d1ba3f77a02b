/**
 * Sends `count` chats to the upstream stand-in (`parallel` at a time), reads each stream to its end
 * and downloads the image it names, as a job does, before anything is measured. The stand-in is a
 * Node process of its own: its first few hundred requests run unoptimised code (its CPU per job was
 * 0.38 ms in a first drain run, 0.14 ms in the next ones), which slowed whichever run came first,
 * Darkroom's or the naive pipeline's. Nothing of Darkroom runs here.
 */
export async function warmUpstream(baseUrl: string, count = 500, parallel = 25): Promise<void> {
  let next = 0;
  const one = async (i: number) => {
    const res = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({
        model: "gpt-4o-image",
        stream: true,
        messages: [{ role: "user", content: `warm-up ${i} [[bench steps=5 step_ms=0]]` }],
      }),
    });
    const text = await res.text();
    const image = /\]\((http[^)\s]+\.png)\)/.exec(text)?.[1];
    if (!res.ok || image === undefined) throw new Error(`warm-up chat ${i}: HTTP ${res.status}, no image named`);
    const png = await fetch(image);
    await png.arrayBuffer();
    if (!png.ok) throw new Error(`warm-up image ${i}: HTTP ${png.status}`);
  };
  await Promise.all(
    Array.from({ length: Math.min(parallel, count) }, async () => {
      while (next < count) await one(next++);
    }),
  );
}
