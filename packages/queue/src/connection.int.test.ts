import { createTestRedis, type TestRedis } from "@darkroom/testing";
import type { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { type ConnectionRole, createPipelinedConnection, createRedisConnection } from "./connection";

let testRedis: TestRedis | undefined;
const connections: Redis[] = [];
afterEach(async () => {
  for (const connection of connections.splice(0)) connection.disconnect();
  await testRedis?.cleanup();
});

/** How many writes reach the connection's socket while 20 commands (and a script) are sent in one turn. */
async function writesForOneTurn(connection: Redis): Promise<{ writes: number; replies: unknown[] }> {
  connections.push(connection);
  // A producer connection refuses commands until it is ready (no offline queue).
  if (connection.status !== "ready") await new Promise((resolve) => connection.once("ready", resolve));
  const stream = (connection as unknown as { stream: { write: (...args: unknown[]) => boolean } }).stream;
  const write = stream.write;
  let writes = 0;
  stream.write = function (this: unknown, ...args: unknown[]) {
    writes += 1;
    return write.apply(this, args);
  };
  const prefix = testRedis?.prefix ?? "";
  const replies = await Promise.all([
    ...Array.from({ length: 20 }, (_, i) => connection.set(`${prefix}:k${i}`, String(i))),
    connection.eval("return redis.call('get', KEYS[1])", 1, `${prefix}:k3`),
  ]);
  stream.write = write;
  return { writes, replies };
}

describe("Redis connections", () => {
  it.each<ConnectionRole>(["producer", "worker"])(
    "a pipelined %s connection sends what is issued in one turn in one write, replies in order",
    async (role) => {
      testRedis = createTestRedis(`connection-${role}`);
      const { writes, replies } = await writesForOneTurn(createPipelinedConnection(testRedis.url, role));
      expect(writes).toBe(1);
      expect(replies).toEqual([...Array.from({ length: 20 }, () => "OK"), "3"]);
    },
  );

  it("a plain connection (BullMQ's, which blocks) writes each command by itself", async () => {
    testRedis = createTestRedis("connection-plain");
    const { writes } = await writesForOneTurn(createRedisConnection(testRedis.url, "worker"));
    expect(writes).toBeGreaterThan(1);
  });
});
