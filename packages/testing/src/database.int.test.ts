import { spawnSync } from "node:child_process";
import { isProcessAlive } from "@darkroom/domain";
import { Redis } from "ioredis";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { createTestDatabase, dropRunDatabases, TEST_SERVER_URL, testPool } from "./database";
import { deleteDeadRunKeys, deleteRunKeys, runKeyPrefix } from "./redis";
import { testRunId } from "./run";

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: `${TEST_SERVER_URL}/postgres` });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const exists = (name: string) =>
  admin(async (c) => (await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])).rowCount === 1);

/** The pid of a process that has already exited: a run that was killed. */
function deadPid(): number {
  const { pid } = spawnSync(process.execPath, ["-e", ""]);
  if (pid === undefined || isProcessAlive(pid)) throw new Error("could not get the pid of an exited process");
  return pid;
}

// Runs sharing a machine must never break each other: a run sweeps only what dead runs left.
describe("run isolation", () => {
  it("gives a test a pool that outlives its database's drop: no uncaught error ends the run", async () => {
    const database = await createTestDatabase("pool-drop");
    const pool = testPool(database.url, 1);
    await pool.query("SELECT 1");
    expect(pool.idleCount).toBe(1);
    // The drop terminates the idle client's backend: the pool re-emits the server's error. With no
    // listener on the pool, that is an uncaught exception, and Vitest fails the whole run for it.
    await database.drop();
    for (let i = 0; i < 100 && pool.idleCount > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(pool.idleCount).toBe(0);
    await pool.end();
  });

  it("sweeps the databases of dead runs and never those of a live one", async () => {
    const dead = `r${deadPid()}x0a0a`;
    const live = `r${process.pid}x0b0b`;
    const names = [
      `darkroom_tpl_${dead}`,
      `darkroom_test_${dead}_flow_00000000`,
      `darkroom_test_${live}_flow_00000000`,
    ];
    await admin(async (c) => {
      for (const name of names) await c.query(`CREATE DATABASE ${name}`);
    });
    try {
      const dropped = await dropRunDatabases();
      expect(dropped).toEqual(expect.arrayContaining(names.slice(0, 2)));
      expect(dropped).not.toContain(names[2]);
      expect(await exists(names[2] as string)).toBe(true);
      expect(await exists(names[0] as string)).toBe(false);
      // the current run's own template is alive too
      expect(dropped.some((name) => name.includes(testRunId()))).toBe(false);
      expect(await dropRunDatabases(live)).toEqual([names[2]]);
    } finally {
      await admin(async (c) => {
        for (const name of names) await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      });
    }
  });

  it("deletes a run's keys in every Redis database and nobody else's", async () => {
    const run = `r${process.pid}x0c0c`;
    const other = `r${process.pid}x0d0d`;
    const redis = new Redis("redis://127.0.0.1:6379");
    try {
      await redis.set(`${runKeyPrefix(run)}a:1`, "x");
      await redis.select(5);
      await redis.set(`${runKeyPrefix(run)}b:1`, "x");
      await redis.set(`${runKeyPrefix(other)}b:1`, "x");
      expect(await deleteRunKeys(run)).toBe(2);
      expect(await redis.exists(`${runKeyPrefix(other)}b:1`)).toBe(1);
      expect(await redis.exists(`${runKeyPrefix(run)}b:1`)).toBe(0);
    } finally {
      await redis.del(`${runKeyPrefix(other)}b:1`);
      redis.disconnect();
    }
  });

  it("deletes the keys of dead runs and never those of a live one", async () => {
    const dead = `r${deadPid()}x0e0e`;
    const live = `r${process.pid}x0f0f`;
    const redis = new Redis("redis://127.0.0.1:6379");
    try {
      await redis.set(`${runKeyPrefix(dead)}a:1`, "x");
      await redis.set(`${runKeyPrefix(live)}a:1`, "x");
      await redis.select(5);
      await redis.set(`${runKeyPrefix(dead)}b:1`, "x");
      expect(await deleteDeadRunKeys()).toBeGreaterThanOrEqual(2);
      expect(await redis.exists(`${runKeyPrefix(dead)}b:1`)).toBe(0);
      await redis.select(0);
      expect(await redis.exists(`${runKeyPrefix(dead)}a:1`)).toBe(0);
      expect(await redis.exists(`${runKeyPrefix(live)}a:1`)).toBe(1);
    } finally {
      await redis.select(0);
      await redis.del(`${runKeyPrefix(live)}a:1`);
      redis.disconnect();
    }
  });
});
