import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { expect } from "vitest";

interface MediaType {
  schema?: object;
}
interface Operation {
  responses: Record<string, { content?: Record<string, MediaType> }>;
  requestBody?: { content: Record<string, MediaType> };
}
export interface OpenApiDoc {
  paths: Record<string, Record<string, Operation>>;
  webhooks: Record<string, Record<string, Operation>>;
}

/** JSON pointer escaping of one segment (`/v1/jobs` -> `~1v1~1jobs`). */
const segment = (s: string) => s.replace(/~/g, "~0").replace(/\//g, "~1");

/**
 * Checks real answers against the document the API serves: the status must be one the operation
 * lists, the media type one it lists for that status, and a JSON body must match its schema
 * (ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses it; the document's objects are strict, so a field
 * the document does not name fails too). Records which operation answered which status.
 */
export class OpenApiChecker {
  readonly seen = new Set<string>();
  private readonly ajv: Ajv2020;

  constructor(readonly doc: OpenApiDoc) {
    // strict: false: OpenAPI's own keywords (`example`) sit beside the schema keywords.
    this.ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
    addFormats(this.ajv);
    this.ajv.addSchema(doc, "doc");
  }

  private validate(pointer: string, body: unknown, what: string): void {
    const validator = this.ajv.getSchema(`doc#${pointer}`);
    if (validator === undefined) throw new Error(`no schema at ${pointer}`);
    const ok = validator(body);
    expect(ok ? [] : validator.errors, `${what}: ${JSON.stringify(body).slice(0, 600)}`).toEqual([]);
  }

  /** Checks one answer of `method path` (the document's `{param}` form); returns the parsed JSON body, if any. */
  async check(method: string, path: string, res: Response): Promise<unknown> {
    const what = `${method.toUpperCase()} ${path} -> ${res.status}`;
    const op = this.doc.paths[path]?.[method];
    expect(op, `${method} ${path} is in the document`).toBeDefined();
    const documented = op?.responses[String(res.status)];
    expect(documented, `${what} is a documented answer (${Object.keys(op?.responses ?? {}).join(", ")})`).toBeDefined();
    this.seen.add(`${method} ${path} ${res.status}`);
    const type = (res.headers.get("content-type") ?? "").split(";")[0]?.trim() ?? "";
    const content = documented?.content;
    if (content === undefined) return undefined;
    expect(Object.keys(content), `${what} content type`).toContain(type);
    if (type !== "application/json" && type !== "application/problem+json") return undefined;
    const body: unknown = await res.json();
    const pointer = `/paths/${segment(path)}/${method}/responses/${res.status}/content/${segment(type)}/schema`;
    this.validate(pointer, body, what);
    return body;
  }

  /** Checks a value against a component schema (`StreamEvent`, `Event`). */
  component(name: string, value: unknown): void {
    this.validate(`/components/schemas/${name}`, value, name);
  }

  /** Checks a webhook body against the document's webhook of its type. */
  webhook(type: string, body: unknown): void {
    expect(Object.keys(this.doc.webhooks), "documented webhook types").toContain(type);
    this.validate(
      `/webhooks/${segment(type)}/post/requestBody/content/application~1json/schema`,
      body,
      `webhook ${type}`,
    );
  }

  /** Operations of the document that no checked answer came from with a success (2xx or 3xx). */
  withoutSuccess(): string[] {
    return Object.entries(this.doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops)
        .filter((method) => ![...this.seen].some((s) => s.startsWith(`${method} ${path} `) && /\s[23]\d\d$/.test(s)))
        .map((method) => `${method} ${path}`),
    );
  }
}
