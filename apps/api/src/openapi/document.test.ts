import { readFileSync } from "node:fs";
import { JOB_EVENT_TYPES } from "@darkroom/db";
import type * as domain from "@darkroom/domain";
import { WEBHOOK_EVENT_TYPES } from "@darkroom/domain";
import type * as sdk from "@darkroom/sdk";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { describe, expect, expectTypeOf, it } from "vitest";
import type { z } from "zod";
import { type EVENT_DATA, pascal, type webhookBody } from "./event-schemas";
import { buildOpenApi } from "./index";
import type { JobSchema } from "./job-schemas";
import type { ApiKeySchema, OverviewSchema, TenantSchema, TrendsSchema, UsageSchema } from "./resource-schemas";

interface Schema {
  type?: string | string[];
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  $ref?: string;
}
interface Operation {
  summary?: string;
  description?: string;
  parameters?: { name: string; description?: string }[];
  responses: Record<string, { description?: string }>;
}
interface Doc {
  paths: Record<string, Record<string, Operation>>;
  webhooks: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

const doc = buildOpenApi("http://127.0.0.1:3000") as unknown as Doc;
const operations = (paths: Doc["paths"]) =>
  Object.entries(paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method, op })));

/** Every property of every schema in `schema` without a description, as `where.property` paths. */
function undescribed(schema: Schema | undefined, where: string): string[] {
  if (schema === undefined) return [];
  const out: string[] = [];
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    const described =
      (property.description ?? "") !== "" ||
      // A $ref'd component carries its own description (checked where it is defined).
      property.$ref !== undefined ||
      (property.anyOf ?? property.oneOf ?? []).some((s) => s.$ref !== undefined && s.description !== "");
    if (!described) out.push(`${where}.${name}`);
    out.push(...undescribed(property, `${where}.${name}`));
  }
  for (const part of [schema.items, ...(schema.anyOf ?? []), ...(schema.oneOf ?? []), ...(schema.allOf ?? [])])
    out.push(...undescribed(part, where));
  return out;
}

describe("the OpenAPI document", () => {
  it("is valid OpenAPI 3.1 for a third-party validator", async () => {
    const result = await new Validator().validate(
      structuredClone(doc) as unknown as Parameters<Validator["validate"]>[0],
    );
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("describes every operation, parameter, schema and field", () => {
    const missing: string[] = [];
    for (const { path, method, op } of [...operations(doc.paths), ...operations(doc.webhooks)]) {
      if (!op.summary || !op.description) missing.push(`${method} ${path}`);
      for (const p of op.parameters ?? []) if (!p.description) missing.push(`${method} ${path} ${p.name}`);
      for (const [status, r] of Object.entries(op.responses))
        if (!r.description) missing.push(`${method} ${path} ${status}`);
    }
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      if (!schema.description) missing.push(name);
      missing.push(...undescribed(schema, name));
    }
    expect(missing).toEqual([]);
  });

  it("gives examples that match their own schemas", () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
    addFormats(ajv);
    ajv.addSchema(doc, "doc");
    const wrong: string[] = [];
    const check = (pointer: string, example: unknown) => {
      const validate = ajv.getSchema(`doc#${pointer}`);
      if (validate !== undefined && !validate(example)) wrong.push(`${pointer}: ${ajv.errorsText(validate.errors)}`);
    };
    let examples = 0;
    for (const [name, schema] of Object.entries(doc.components.schemas) as [string, { example?: unknown }][]) {
      if (schema.example === undefined) continue;
      examples++;
      check(`/components/schemas/${name}`, schema.example);
    }
    const pointerSegment = (s: string) => s.replace(/~/g, "~0").replace(/\//g, "~1");
    for (const { path, method, op } of operations(doc.paths)) {
      const content = (op as { requestBody?: { content: Record<string, { example?: unknown }> } }).requestBody?.content;
      for (const [type, media] of Object.entries(content ?? {})) {
        if (media.example === undefined) continue;
        examples++;
        check(
          `/paths/${pointerSegment(path)}/${method}/requestBody/content/${pointerSegment(type)}/schema`,
          media.example,
        );
      }
    }
    expect(examples).toBeGreaterThan(5);
    expect(wrong).toEqual([]);
  });

  it("lists per route only the errors it can answer", () => {
    const statuses = (path: string, method: string) => Object.keys(doc.paths[path]?.[method]?.responses ?? {});
    // Creating a job finds no job: there is no 404 to answer.
    expect(statuses("/v1/jobs", "post")).not.toContain("404");
    expect(statuses("/v1/jobs", "post")).toEqual(
      expect.arrayContaining(["200", "202", "400", "401", "413", "415", "422", "429", "503"]),
    );
    expect(statuses("/v1/jobs/{id}/cancel", "post")).toContain("409");
    expect(statuses("/v1/jobs/{id}/images/{index}", "get")).toContain("403");
    expect(statuses("/v1/jobs", "get")).not.toContain("409");
    // Admin routes name the admin token, never an API key.
    for (const { path, method, op } of operations(doc.paths).filter((o) => o.path.startsWith("/admin/api/")))
      expect(op.responses["401"]?.description, `${method} ${path}`).toMatch(/ADMIN_TOKEN/);
    expect(statuses("/healthz", "get")).toEqual(["200"]);
  });

  it("has a webhook per event type (and the test event), and a typed event per event type", () => {
    expect(Object.keys(doc.webhooks).sort()).toEqual([...WEBHOOK_EVENT_TYPES, "webhook.test"].sort());
    const event = doc.components.schemas.Event;
    expect(event?.anyOf?.map((s) => s.$ref?.split("/").at(-1))).toEqual(
      JOB_EVENT_TYPES.map(
        (t) =>
          `${t
            .split(/[._]/)
            .map((w) => w[0]?.toUpperCase() + w.slice(1))
            .join("")}Event`,
      ),
    );
    expect(doc.components.schemas.JobProgressData?.properties?.percent?.type).toBe("integer");
  });

  it("describes the job, tenant, key, usage, overview and trends exactly as the domain's views", () => {
    // Checked by the type checker: a field in one and not the other fails `npm run typecheck`.
    // `branded`: the domain writes the attempt error as an intersection, the schema as one object.
    expectTypeOf<z.output<typeof JobSchema>>().branded.toEqualTypeOf<domain.JobView>();
    expectTypeOf<z.output<typeof TenantSchema>>().toEqualTypeOf<domain.TenantView>();
    expectTypeOf<z.output<typeof ApiKeySchema>>().toEqualTypeOf<domain.ApiKeyView>();
    expectTypeOf<z.output<typeof UsageSchema>["totals"]>().toEqualTypeOf<domain.UsageFigures>();
    expectTypeOf<z.output<typeof OverviewSchema>["jobs"]>().toEqualTypeOf<domain.AdminOverview["jobs"]>();
    expectTypeOf<z.output<typeof TrendsSchema>>().toEqualTypeOf<domain.AdminTrends>();
    expectTypeOf<keyof typeof EVENT_DATA>().toEqualTypeOf<(typeof JOB_EVENT_TYPES)[number]>();
  });

  it("types events and webhooks as the SDK does", () => {
    // EVENT_DATA is `as const`: its keys are readonly, the SDK's are not.
    type DocumentedData = { -readonly [T in keyof typeof EVENT_DATA]: z.output<(typeof EVENT_DATA)[T]> };
    expectTypeOf<sdk.DarkroomEventData>().branded.toEqualTypeOf<DocumentedData>();
    expectTypeOf<sdk.DarkroomEvent["type"]>().toEqualTypeOf<keyof typeof EVENT_DATA>();
    type DocumentedWebhook = {
      [T in domain.WebhookEventType]: z.output<ReturnType<typeof webhookBody<T>>>;
    }[domain.WebhookEventType];
    expectTypeOf<sdk.DarkroomWebhookPayload>().branded.toEqualTypeOf<DocumentedWebhook>();
  });

  it("agrees with the README's API section: every operation named, each event type's data fields", () => {
    const readme = readFileSync(new URL("../../../../README.md", import.meta.url), "utf8");
    const unnamed = operations(doc.paths)
      .map(({ path, method }) => `${method.toUpperCase()} ${path}`)
      .filter((op) => !readme.includes(`\`${op}\``));
    expect(unnamed).toEqual([]);
    for (const type of JOB_EVENT_TYPES) {
      const row = readme.split("\n").find((line) => line.startsWith(`| \`${type}\` |`)) ?? "";
      const named = [...(row.split("|")[2] ?? "").matchAll(/`([a-z_]+)`/g)].map((m) => m[1]);
      const schema = doc.components.schemas[`${pascal(type)}Data`];
      const fields = Object.keys(schema?.properties ?? {});
      expect(fields.length, type).toBeGreaterThan(0);
      expect(named.filter((n) => fields.includes(n ?? "")).sort(), `README row of ${type}`).toEqual(fields.sort());
    }
  });
});
