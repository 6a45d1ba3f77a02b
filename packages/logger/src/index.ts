import { type DestinationStream, type Logger, type LoggerOptions, pino } from "pino";

export type { Logger } from "pino";
export { stopOnSignals } from "./stop";

/** What a blanked-out value reads in a log line. */
export const CENSOR = "[redacted]";

/**
 * Keys whose values never reach a log line, wherever they are the logged object's own key or the
 * key of one of its values (`{ token }` and `{ tenant: { token } }` alike).
 */
export const SECRET_KEYS = ["apiKey", "api_key", "secret", "webhookSecret", "webhook_secret", "token", "authorization"];

/**
 * Paths pino blanks out besides: keys secret at the top level only, and the request's headers. The
 * {@link SECRET_KEYS} one level down are blanked by {@link censorNested} rather than by pino's
 * wildcard paths (`*.token`): with a wildcard path, pino runs its redactor on every value of every
 * line (it parses each path again each time), 6 µs of CPU and 20 KB of garbage for a five-field
 * line, which was 2 % of a busy API's time and a sixth of what it allocated.
 */
export const REDACT_PATHS = [
  ...SECRET_KEYS,
  "key",
  "adminToken",
  "req.headers.authorization",
  "req.headers.cookie",
  'req.headers["x-api-key"]',
  "headers.authorization",
];

const SECRETS = new Set(SECRET_KEYS);

/**
 * `fields` with every value that holds one of the {@link SECRET_KEYS} as its own property replaced
 * by a copy that holds {@link CENSOR} there instead: same prototype and other properties, so an
 * error keeps its class, message and stack. `fields` itself is returned when nothing is secret, and
 * is never changed (the caller may still use the objects it logged).
 */
export function censorNested(fields: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | null = null;
  for (const name in fields) {
    const value = fields[name];
    if (typeof value !== "object" || value === null || Array.isArray(value)) continue;
    let descriptors: PropertyDescriptorMap | null = null;
    for (const key of Object.keys(value)) {
      if (!SECRETS.has(key)) continue;
      descriptors ??= Object.getOwnPropertyDescriptors(value);
      descriptors[key] = { value: CENSOR, enumerable: true, writable: true, configurable: true };
    }
    if (descriptors === null) continue;
    out ??= { ...fields };
    out[name] = Object.create(Object.getPrototypeOf(value), descriptors);
  }
  return out ?? fields;
}

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
    redact: { paths: REDACT_PATHS, censor: CENSOR },
    formatters: { level: (label) => ({ level: label }), log: censorNested },
  };
  return censorChildBindings(rootLogger(options, base));
}

/**
 * pino's `log` formatter sees a line's own fields only, and a child's bindings are written as given:
 * every child, and its children (which inherit this `child`), gets its bindings through
 * {@link censorNested} here. (The root's bindings are pid, hostname and name.)
 */
function censorChildBindings(logger: Logger): Logger {
  const child = logger.child;
  logger.child = function (this: Logger, bindings, options) {
    return child.call(this, censorNested(bindings), options);
  } as Logger["child"];
  return logger;
}

function rootLogger(options: CreateLoggerOptions, base: LoggerOptions): Logger {
  if (options.pretty && options.destination === undefined) {
    return pino({
      ...base,
      transport: { target: "pino-pretty", options: { colorize: true, ignore: "pid,hostname", singleLine: true } },
    });
  }
  if (options.destination !== undefined) return pino(base, options.destination);
  return pino(base, batchedStdout());
}

/** Linux's PIPE_BUF: a write to a pipe of at most this many bytes is never split or interleaved. */
const PIPE_BUF = 4096;
/** Lines reach stdout once this many bytes wait (below PIPE_BUF, as sonic-boom requires)... */
const BATCH_BYTES = 3072;
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
  // Each write is whole lines and at most PIPE_BUF bytes, which a pipe takes in one piece: the
  // lines of processes sharing one stdout (API_PROCESSES, or roles started from one shell) never
  // interleave mid-line, even while the reader falls behind.
  const out = pino.destination({ dest: 1, sync: false, minLength: BATCH_BYTES, maxWrite: PIPE_BUF });
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
