import { AppError } from "@darkroom/domain";

/** Where DATABASE_URL points, without credentials: `host:port/database`. */
function databaseLabel(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    return `${url.hostname}:${url.port || "5432"}${url.pathname}`;
  } catch {
    return "DATABASE_URL";
  }
}

/**
 * One line that says what went wrong and what to do, for an error the CLI did not expect: the
 * database unreachable, missing or not migrated, or anything else (its message's last line; Prisma
 * prefixes its messages with the call and a code frame, which say nothing to someone at a shell).
 */
export function describeCliError(error: unknown, databaseUrl: string): string {
  const where = databaseLabel(databaseUrl);
  const code = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
  switch (code) {
    case "P1001":
    case "ECONNREFUSED":
      return `cannot reach Postgres at ${where} (DATABASE_URL): is it running? The CLI talks to the database directly, so use the server's DATABASE_URL.`;
    case "P1003":
      return `the database ${where} (DATABASE_URL) does not exist: run \`npm start\` or \`npm run db:migrate\` with the same DATABASE_URL first.`;
    case "P2021":
      return `the database ${where} (DATABASE_URL) has no Darkroom tables: run \`npm run db:migrate\` with the same DATABASE_URL first.`;
  }
  if (error instanceof AppError) return error.message;
  const message = error instanceof Error ? error.message : String(error);
  const lines = message
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
  return `error: ${lines.at(-1) ?? "unknown"}`;
}
