import { createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { monitorRedis } from "./redis";

let server: Server | null = null;
const sockets = new Set<Socket>();
afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await new Promise<void>((resolve) => (server === null ? resolve() : server.close(() => resolve())));
  server = null;
});

/** A stand-in for a Redis server that answers each connection with `answer`. */
async function fakeRedis(answer: (socket: Socket) => void): Promise<string> {
  server = createServer((socket) => {
    sockets.add(socket);
    answer(socket);
  });
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return `redis://127.0.0.1:${address.port}`;
}

describe("monitorRedis", () => {
  it("rejects when the server closes the connection before MONITOR's +OK", async () => {
    const url = await fakeRedis((socket) => socket.destroy());
    await expect(monitorRedis(url, () => undefined)).rejects.toThrow(
      `Redis at ${url} closed the connection before MONITOR started`,
    );
  });

  it("rejects with the server's answer when it refuses MONITOR", async () => {
    const url = await fakeRedis((socket) => socket.end("-ERR unknown command 'MONITOR'\r\n"));
    await expect(monitorRedis(url, () => undefined)).rejects.toThrow(
      `Redis at ${url} refused MONITOR: -ERR unknown command 'MONITOR'`,
    );
  });

  it("hands over every line after +OK, split across chunks as they come", async () => {
    const url = await fakeRedis((socket) => {
      socket.once("data", () => {
        socket.write('+OK\r\n+1.0 [0 127.0.0.1:1] "PI');
        setTimeout(() => socket.write('NG"\r\n+2.0 [0 127.0.0.1:1] "GET" "k"\r\n'), 20);
      });
    });
    const lines: string[] = [];
    const monitor = await monitorRedis(url, (line) => lines.push(line));
    await expect.poll(() => lines.length).toBe(2);
    monitor.close();
    expect(lines).toEqual(['+1.0 [0 127.0.0.1:1] "PING"', '+2.0 [0 127.0.0.1:1] "GET" "k"']);
  });
});
