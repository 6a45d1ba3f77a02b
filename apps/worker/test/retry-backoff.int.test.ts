import { type Stack, startStack } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobEvents } from "./job-events";
import { client, uniquePrompt, upstreamCalls } from "./support";

// Real backoff between real 5xx retries, with delays large enough to measure. Full jitter makes
// each delay uniform in [0, ceiling), so one sample proves little: many jobs run, and every delay
// is checked against its ceiling. The delay the worker chose is read exactly from the log
// (`next_attempt_at` of `job.attempt_failed` minus the event's own time, which is no earlier than
// the decision); the simulator's call log shows that the worker then waited for it.
const BASE_MS = 200;
const MAX_MS = 300; // below 2 * BASE_MS, so the cap binds on the second retry
// Processing between a failed call and the next one (BullMQ promotion, claim, connect) reached 3 s
// on a loaded 2-core machine, so call gaps cannot bound a jitter of a few hundred ms: the exact
// bounds come from the log, and the gaps only show that a 30 s hint was not waited out.
const PROCESSING_MS = 5000;

let stack: Stack;
let key: string;
let api: ReturnType<typeof client>;
beforeAll(async () => {
  stack = await startStack({
    label: "backoff",
    simulatorStepMs: 5,
    env: { RETRY_BASE_DELAY_MS: String(BASE_MS), RETRY_MAX_DELAY_MS: String(MAX_MS) },
  });
  key = await stack.newApiKey();
  api = client(stack, key);
});
afterAll(async () => {
  if (process.env.DEBUG_STACK) console.log(stack.api.output(), stack.workers[0]?.output());
  await stack?.stop();
});

/** The delay the worker chose after each failed attempt, in order. */
async function chosenDelays(id: string): Promise<{ delayMs: number; retryAt: number }[]> {
  return (await jobEvents(stack, key, id))
    .filter((e) => e.type === "job.attempt_failed")
    .map((e) => {
      const retryAt = Date.parse(String(e.data.next_attempt_at));
      return { retryAt, delayMs: retryAt - Date.parse(e.created_at) };
    });
}

describe("retry backoff", () => {
  // 24 jobs in three waves: about 9 s on an idle machine, over 20 s under a load of 8.
  it("spaces 5xx retries within [0, min(max, base * 2^k)): full jitter, growing, capped", {
    timeout: 60_000,
  }, async () => {
    const firstDelays: number[] = [];
    const secondDelays: number[] = [];
    // Waves no larger than WORKER_CONCURRENCY (8): a promoted retry never waits for a free slot.
    for (let wave = 0; wave < 3; wave++) {
      const prompts = Array.from({ length: 8 }, () => uniquePrompt("[[sim script=http500*2]]"));
      const created = await Promise.all(prompts.map((prompt) => api.create({ prompt, fallback_model: null })));
      for (const [i, job] of created.entries()) {
        const done = await api.waitTerminal(job.id);
        expect(done.status).toBe("succeeded");
        expect(done.attempts.map((a) => a.status)).toEqual(["failed", "failed", "succeeded"]);
        const delays = await chosenDelays(job.id);
        expect(delays).toHaveLength(2);
        const [first, second] = delays as [(typeof delays)[0], (typeof delays)[0]];
        // Only upper bounds: 0 is a valid full-jitter delay (and the event is written after the decision).
        expect(first.delayMs).toBeLessThan(BASE_MS); // k = 1: min(max, base)
        expect(second.delayMs).toBeLessThan(MAX_MS); // k = 2: min(max, 2 * base) = max
        firstDelays.push(first.delayMs);
        secondDelays.push(second.delayMs);

        const calls = upstreamCalls(stack, prompts[i] ?? "");
        expect(calls).toHaveLength(3);
        // The worker waited until the chosen time before calling again.
        for (const [k, delay] of delays.entries()) {
          expect(calls[k + 1]?.startedAt ?? 0).toBeGreaterThanOrEqual(delay.retryAt - 2);
        }
      }
    }
    // The delays are really drawn from the whole range (not 0, not a constant), and the second
    // retry's range is wider than the first's: with 24 uniform samples each, these fail by chance
    // with a probability of 2^-24 and (2/3)^24 = 6e-5.
    expect(Math.max(...firstDelays)).toBeGreaterThan(BASE_MS / 2);
    expect(Math.max(...secondDelays)).toBeGreaterThan(BASE_MS);
  });

  it("caps a long Retry-After (30 s, on a 503 and on a 429) at RETRY_MAX_DELAY_MS", async () => {
    for (const fault of ["http503", "http429"]) {
      const prompt = uniquePrompt(`[[sim script=${fault} retry_after=30]]`);
      const created = await api.create({ prompt, fallback_model: null });
      const done = await api.waitTerminal(created.id, 10_000);
      expect(done.status).toBe("succeeded");
      expect(done.attempts.map((a) => a.status)).toEqual(["failed", "succeeded"]);
      const [delay] = await chosenDelays(created.id);
      // Not jittered: the hint itself, capped; the event is written a little after the decision.
      expect(delay?.delayMs).toBeLessThanOrEqual(MAX_MS);
      expect(delay?.delayMs).toBeGreaterThan(MAX_MS - 150);
      const [failed, next] = upstreamCalls(stack, prompt);
      expect((next?.startedAt ?? 0) - (failed?.startedAt ?? 0)).toBeGreaterThanOrEqual(MAX_MS - 2);
      expect((next?.startedAt ?? 0) - (failed?.startedAt ?? 0)).toBeLessThan(MAX_MS + PROCESSING_MS);
    }
  });
});
