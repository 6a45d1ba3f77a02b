import type { RunningProcess, Stack } from "@darkroom/testing";

export interface EventJson {
  seq: number;
  type: string;
  created_at: string;
  data: Record<string, unknown>;
}

/** A job's event log as `GET /v1/jobs/{id}/events` lists it (JSON, oldest first). */
export async function jobEvents(stack: Stack, key: string, id: string): Promise<EventJson[]> {
  const res = await fetch(`${stack.apiUrl}/v1/jobs/${id}/events`, { headers: { authorization: `Bearer ${key}` } });
  if (res.status !== 200) throw new Error(`events answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { data: EventJson[] }).data;
}

export const TERMINAL_TYPES = ["job.succeeded", "job.failed", "job.canceled"];

/** The terminal events of a job's log (a job must have exactly one once it is terminal). */
export async function terminalEvents(stack: Stack, key: string, id: string): Promise<EventJson[]> {
  return (await jobEvents(stack, key, id)).filter((e) => TERMINAL_TYPES.includes(e.type));
}

/**
 * Resolves once a worker logged one of `msgs` for this job: the positive signal that its handler
 * has finished (and made its fenced writes), instead of a sleep.
 */
export async function waitForWorkerLog(stack: Stack, jobId: string, msgs: string | string[], timeoutMs = 10_000) {
  const literal = (msg: string) => msg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const alternatives = (Array.isArray(msgs) ? msgs : [msgs]).map(literal).join("|");
  const pattern = new RegExp(`"job_id":"${jobId}"[^\\n]*"msg":"(?:${alternatives})`);
  await Promise.any(stack.workers.map((w: RunningProcess) => w.waitFor(pattern, timeoutMs)));
}
