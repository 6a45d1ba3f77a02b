import type { Logger } from "pino";

/**
 * A role's graceful stop, the same for the API and the worker: on SIGTERM or SIGINT it logs
 * "<role> stopping" and runs `close`, then exits 0; 1 when `close` fails ("<role> did not close
 * cleanly") or has not ended within `graceMs` (a hung Redis or Postgres, a request that never
 * finishes: "shutdown grace ran out; exiting with work unfinished"). A second signal changes
 * nothing. Install it before the role announces itself ready, so that a stop request right after
 * takes this path rather than the default one that kills the process.
 */
export function stopOnSignals(logger: Logger, role: string, graceMs: number, close: () => Promise<void>): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, `${role} stopping`);
    const force = setTimeout(() => {
      logger.error({ grace_ms: graceMs }, "shutdown grace ran out; exiting with work unfinished");
      process.exit(1);
    }, graceMs).unref();
    try {
      await close();
    } catch (error) {
      logger.error({ err: error }, `${role} did not close cleanly`);
      process.exit(1);
    }
    clearTimeout(force);
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}
