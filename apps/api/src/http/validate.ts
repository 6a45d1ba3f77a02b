import { AppError, type FieldError } from "@darkroom/domain";
import type { z } from "zod";

/** Parses untrusted input; on failure throws a validation error naming every bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, where: "body" | "query"): z.infer<S> {
  if (where === "body" && (input === null || typeof input !== "object" || Array.isArray(input))) {
    throw new AppError("validation_failed", "The request body must be a JSON object.", {
      errors: [{ path: "", message: "must be a JSON object" }],
    });
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const errors: FieldError[] = [];
  for (const issue of result.error.issues) {
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
