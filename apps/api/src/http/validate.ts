import { AppError, type FieldError } from "@darkroom/domain";
import type { Request } from "express";
import type { z } from "zod";

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/**
 * The request's `Idempotency-Key` (job creation, bulk operations), or undefined without one; a key
 * that is not 1 to 255 visible ASCII characters is refused (`validation_failed`).
 */
export function idempotencyKeyOf(req: Request): string | undefined {
  const key = req.get("idempotency-key");
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
    throw new AppError("validation_failed", "Idempotency-Key must be 1 to 255 visible ASCII characters.", {
      errors: [{ path: "Idempotency-Key", message: "must be 1 to 255 visible ASCII characters" }],
    });
  }
  return key;
}

/** Most `__proto__` keys one body reports. */
const MAX_PROTO_ISSUES = 10;

/**
 * Paths of `__proto__` keys below the top level of a parsed JSON body. JSON.parse makes them own
 * keys, but zod drops them from records and any object spread or assignment would turn them into a
 * prototype, so the stored value would differ from the one sent: refused instead. The top level is
 * left to the schema, which reports `__proto__` as an unknown field. Walked without recursion.
 */
function protoKeyPaths(body: object): string[] {
  interface Step {
    key: string;
    parent: Step | null;
  }
  // Paths are kept as parent links and joined only for a hit: a 100,000-level body stays linear.
  const join = (step: Step): string => {
    const keys: string[] = [];
    for (let s: Step | null = step; s !== null; s = s.parent) keys.push(s.key);
    return keys.reverse().join(".");
  };
  const paths: string[] = [];
  const stack: [unknown, Step | null][] = [[body, null]];
  while (stack.length > 0 && paths.length < MAX_PROTO_ISSUES) {
    const next = stack.pop();
    if (next === undefined) break;
    const [item, parent] = next;
    if (item === null || typeof item !== "object") continue;
    for (const [key, child] of Object.entries(item)) {
      const step = { key, parent };
      if (key === "__proto__" && parent !== null) paths.push(join(step));
      stack.push([child, step]);
    }
  }
  return paths;
}

/** Parses untrusted input; on failure throws a validation error naming every bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, where: "body" | "query"): z.infer<S> {
  if (where === "body" && (input === null || typeof input !== "object" || Array.isArray(input))) {
    throw new AppError("validation_failed", "The request body must be a JSON object.", {
      errors: [{ path: "", message: "must be a JSON object" }],
    });
  }
  const errors: FieldError[] = [];
  if (where === "body") {
    for (const path of protoKeyPaths(input as object)) errors.push({ path, message: "is not allowed as a key" });
  }
  const result = schema.safeParse(input);
  if (result.success && errors.length === 0) return result.data;
  for (const issue of result.error?.issues ?? []) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) errors.push({ path: key, message: "is not a known field" });
      continue;
    }
    errors.push({ path: issue.path.map(String).join(".") || "(root)", message: issue.message });
  }
  const names = [...new Set(errors.map((e) => e.path))].join(", ");
  throw new AppError("validation_failed", `Invalid ${where === "body" ? "field" : "parameter"}(s): ${names}.`, {
    errors,
  });
}
