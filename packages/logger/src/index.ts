import { type DestinationStream, type Logger, type LoggerOptions, pino } from "pino";

export type { Logger } from "pino";

/** Paths pino blanks out: keys, secrets and tokens never reach a log line. */
export const REDACT_PATHS = [
  "apiKey",
  "api_key",
  "key",
  "secret",
  "webhookSecret",
  "webhook_secret",
  "token",
  "adminToken",
  "authorization",
  "*.apiKey",
  "*.api_key",
  "*.secret",
  "*.webhookSecret",
  "*.webhook_secret",
  "*.token",
  "*.authorization",
  "req.headers.authorization",
  "req.headers.cookie",
  'req.headers["x-api-key"]',
  "headers.authorization",
];

export interface CreateLoggerOptions {
  name: string;
  level: string;
  pretty: boolean;
  destination?: NodeJS.WritableStream;
}

/** JSON in production, pretty in development; redaction always on. */
export function createLogger(options: CreateLoggerOptions): Logger {
  const base: LoggerOptions = {
    name: options.name,
    level: options.level,
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    formatters: { level: (label) => ({ level: label }) },
  };
  if (options.pretty && options.destination === undefined) {
    return pino({
      ...base,
      transport: { target: "pino-pretty", options: { colorize: true, ignore: "pid,hostname", singleLine: true } },
    });
  }
  if (options.destination !== undefined) return pino(base, options.destination);
  return pino(base, batchedStdout());
}

/** Lines reach stdout in writes of at least this many bytes... */
const BATCH_BYTES = 4096;
/** ...or at the latest about this long after they were logged. */
const BATCH_MS = 200;

/**
 * Asynchronous, batched stdout: a line costs the request path no write system call (a busy API
 * logs a line per request; a write per line was about 5 % of its busy time in the submit bench).
 * pino flushes what is buffered synchronously when the process exits, through process.exit, at
 * the end of the event loop or on an uncaught exception, so no line is lost there; a kill -9 loses
 * what is buffered (at most BATCH_MS of lines, or what a pending write holds).
 */
function batchedStdout(): DestinationStream {
  const out = pino.destination({ dest: 1, sync: false, minLength: BATCH_BYTES });
  let unwritten = 0;
  out.on("write", (bytes: number) => {
    unwritten -= bytes;
  });
  // A flush while a write is under way does nothing: the next tick tries again.
  setInterval(() => {
    if (unwritten > 0) out.flush();
  }, BATCH_MS).unref();
  return {
    write(line: string) {
      unwritten += Buffer.byteLength(line);
      out.write(line);
    },
  };
}
