import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort, type Stack, startStack } from "@darkroom/testing";
import { signWebhook } from "@darkroom/webhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, newTenant, uniquePrompt } from "./support";

// The README's webhook receivers (Node and Python), run as a reader would run them, against
// deliveries a real worker signs and sends.

const root = path.resolve(import.meta.dirname, "../../..");
let stack: Stack;
let dir: string;
let api: ReturnType<typeof client>;
let secret: string;
let key: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "darkroom-readme-"));
  stack = await startStack({
    label: "readme-examples",
    simulatorStepMs: 20,
    env: { ALLOW_PRIVATE_WEBHOOK_URLS: "true" },
  });
  ({ apiKey: key, webhookSecret: secret } = await newTenant(stack));
  api = client(stack, key);
});
afterAll(async () => {
  for (const child of children) child.kill();
  await stack?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** The README's fenced block whose first line is `firstLine`. */
async function readmeBlock(firstLine: string): Promise<string> {
  const readme = await readFile(path.join(root, "README.md"), "utf8");
  for (const [, body] of readme.matchAll(/^```[a-z]*\n([\s\S]*?)^```$/gm)) {
    if (body?.split("\n")[0] === firstLine) return body;
  }
  throw new Error(`README.md has no code block starting with ${firstLine}`);
}

/** Starts a receiver; resolves once it answers HTTP, with what it printed so far (kept growing). */
async function startReceiver(command: string, file: string) {
  const port = await freePort();
  const child = spawn(command, [file], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", DARKROOM_WEBHOOK_SECRET: secret, PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  const out = { stdout: "", stderr: "" };
  child.stdout?.on("data", (c: Buffer) => {
    out.stdout += c.toString("utf8");
  });
  child.stderr?.on("data", (c: Buffer) => {
    out.stderr += c.toString("utf8");
  });
  const url = `http://127.0.0.1:${port}/darkroom`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const answer = await fetch(url, { method: "POST", body: "{}" }).catch(() => null);
    if (answer !== null) {
      expect(answer.status).toBe(400); // no signature: refused
      break;
    }
    if (Date.now() > deadline) throw new Error(`${file} did not start: ${out.stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, out };
}

interface Delivery {
  event_id: string;
  status: string;
  response_status: number | null;
}

async function deliveriesUntil(jobId: string, done: (d: Delivery[]) => boolean): Promise<Delivery[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${stack.apiUrl}/v1/jobs/${jobId}/webhook-deliveries`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const ledger = ((await res.json()) as { data: Delivery[] }).data;
    if (done(ledger)) return ledger;
    if (Date.now() > deadline) throw new Error(`deliveries of ${jobId}: ${JSON.stringify(ledger)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.each([
  ["node", "webhook-receiver.mjs", "// webhook-receiver.mjs"],
  ["python3", "webhook_receiver.py", "# webhook_receiver.py"],
])("README's %s webhook receiver", (command, file, firstLine) => {
  it("accepts Darkroom's signed deliveries and refuses forged and stale ones", async () => {
    await writeFile(path.join(dir, file), await readmeBlock(firstLine));
    const receiver = await startReceiver(command, file);

    const job = await api.create({
      prompt: uniquePrompt(""),
      webhook_url: receiver.url,
      webhook_events: ["job.progress", "job.succeeded"],
    });
    expect((await api.waitTerminal(job.id)).status).toBe("succeeded");
    const ledger = await deliveriesUntil(
      job.id,
      (d) => d.length > 1 && d.every((x) => x.status !== "pending") && receiver.out.stdout.includes("job.succeeded"),
    );
    // Every delivery verified: answered 204, none retried.
    expect(ledger.map((d) => [d.status, d.response_status])).toEqual(ledger.map(() => ["succeeded", 204]));
    expect(receiver.out.stdout).toMatch(new RegExp(`^job\\.succeeded ${job.id} succeeded 100`, "m"));
    expect(receiver.out.stdout).toMatch(new RegExp(`^job\\.progress ${job.id} running \\d+`, "m"));

    const body = JSON.stringify({
      type: "job.succeeded",
      timestamp: new Date().toISOString(),
      data: await api.get(job.id),
    });
    const send = (signature: string, timestamp: number) =>
      fetch(receiver.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "webhook-id": "evt_forged",
          "webhook-timestamp": String(timestamp),
          "webhook-signature": signature,
        },
        body,
      }).then((r) => r.status);
    const now = Math.floor(Date.now() / 1000);
    const other = "whsec_" + Buffer.alloc(32, 7).toString("base64");
    expect(await send(signWebhook(other, "evt_forged", now, body), now)).toBe(400);
    expect(await send(signWebhook(secret, "evt_forged", now - 600, body), now - 600)).toBe(400);
    expect(
      await send(
        `${signWebhook(other, "evt_forged", now, body)} ${signWebhook(secret, "evt_forged", now, `${body} `)}`,
        now,
      ),
    ).toBe(400);
    // Correctly signed and fresh (the second of two signatures, as during a secret rotation): accepted.
    expect(
      await send(`${signWebhook(other, "evt_forged", now, body)} ${signWebhook(secret, "evt_forged", now, body)}`, now),
    ).toBe(204);
  });
});
