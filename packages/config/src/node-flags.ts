/**
 * The Node.js flags each bundle runs with, however it is started: `npm start` (the supervisor),
 * `npm run start:api` / `start:worker`, the Dockerfile, docker-compose.yml and `npm run bench`.
 * `scripts/start/node-flags.test.ts` keeps those in agreement with this table.
 *
 * The API's young generation is twice V8's default (32 MB semi-spaces instead of 16): a busy API
 * allocates about 100 KB per request, and with the default a scavenge ran every ~30 ms, each one
 * copying what the requests then in flight still held (13 % of its CPU in the submit benchmark).
 * With 32 MB, half as many scavenges copy about as much each: 4-6 % more requests per second at
 * the same p99 (docs/performance.md). 64 MB raised the p99. It costs up to 32 MB more memory.
 */
const EXTRA_FLAGS: Readonly<Record<string, readonly string[]>> = {
  "api.js": ["--max-semi-space-size=32"],
};

/** `node`'s arguments before the bundle's path: source maps for every bundle, and its own extras. */
export function nodeFlagsOf(bundle: string): readonly string[] {
  return ["--enable-source-maps", ...(EXTRA_FLAGS[bundle] ?? [])];
}
