import type { Stack } from "@darkroom/testing";
import { STACK_ADMIN_TOKEN } from "@darkroom/testing";
import { uniquePrompt } from "./support";

// The fair-scheduling tests' view of the API: tenants, bulk submission and the job list.

export interface Job {
  id: string;
  status: string;
  priority: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  progress: { queue_position: number | null; eta_seconds: number | null };
  attempts: { status: string }[];
}

export function on(s: Stack) {
  const admin = { authorization: `Bearer ${STACK_ADMIN_TOKEN}`, "content-type": "application/json" };
  return {
    async tenant(settings: Record<string, unknown> = {}) {
      const res = await fetch(`${s.apiUrl}/admin/api/keys`, {
        method: "POST",
        headers: admin,
        body: JSON.stringify({ name: "t", ...settings }),
      });
      if (res.status !== 201) throw new Error(`tenant: ${res.status} ${await res.text()}`);
      const body = (await res.json()) as { tenant_id: string; api_key: string };
      return { id: body.tenant_id, key: body.api_key };
    },
    async submit(key: string, bodies: Record<string, unknown>[]): Promise<Job[]> {
      const out: Job[] = [];
      for (let i = 0; i < bodies.length; i += 25) {
        const chunk = await Promise.all(
          bodies.slice(i, i + 25).map(async (body) => {
            const res = await fetch(`${s.apiUrl}/v1/jobs`, {
              method: "POST",
              headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
              body: JSON.stringify(body),
            }).catch((error: unknown) => {
              // No answer at all: show what the API process said last.
              throw new Error(`create: ${(error as Error).message}; API output: ${s.api.output().slice(-3000)}`, {
                cause: error,
              });
            });
            if (res.status !== 202) throw new Error(`create: ${res.status} ${await res.text()}`);
            return (await res.json()) as Job;
          }),
        );
        out.push(...chunk);
      }
      return out;
    },
    async get(key: string, id: string): Promise<Job> {
      const res = await fetch(`${s.apiUrl}/v1/jobs/${id}`, { headers: { authorization: `Bearer ${key}` } });
      return (await res.json()) as Job;
    },
    /** Every job of the tenant (newest first), through the list endpoint's pages. */
    async all(key: string, status?: string): Promise<Job[]> {
      const out: Job[] = [];
      let cursor: string | null = null;
      do {
        const query = new URLSearchParams({ limit: "100" });
        if (status !== undefined) query.set("status", status);
        if (cursor !== null) query.set("cursor", cursor);
        const res = await fetch(`${s.apiUrl}/v1/jobs?${query}`, { headers: { authorization: `Bearer ${key}` } });
        const page = (await res.json()) as { data: Job[]; next_cursor: string | null };
        out.push(...page.data);
        cursor = page.next_cursor;
      } while (cursor !== null);
      return out;
    },
  };
}

export const prompts = (n: number, directive: string) =>
  Array.from({ length: n }, (_, i) => ({ prompt: uniquePrompt(`${directive} #${i}`) }));
