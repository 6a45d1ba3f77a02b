import type { JobStatus } from "@darkroom/domain";
import { type FormEvent, useEffect, useState } from "react";
import { STATUSES } from "../constants";
import { EMPTY_FILTER, isFiltered, type JobFilter } from "../job-filter";

const MODELS = ["gpt-4o-image", "gpt-image-1"];

interface FilterBarProps {
  filter: JobFilter;
  tenants: { id: string; name: string }[];
  onChange(filter: JobFilter): void;
}

/** A `datetime-local` value (local time, minutes) for an ISO instant, and back. */
function toLocalInput(iso: string | undefined): string {
  if (iso === undefined) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}
function fromLocalInput(value: string): string | undefined {
  if (value === "") return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/** A labelled text input of the bar, applied with the form (Enter or "Search"). */
function TypedField(props: {
  label: string;
  testId: string;
  type?: "search" | "text";
  grow?: boolean;
  placeholder: string;
  value: string;
  onChange(value: string): void;
}) {
  return (
    <label className={props.grow ? "field grow" : "field"}>
      <span>{props.label}</span>
      <input
        type={props.type ?? "text"}
        data-testid={props.testId}
        placeholder={props.placeholder}
        value={props.value}
        onChange={(e) => props.onChange(e.target.value)}
      />
    </label>
  );
}

/** A labelled choice of the bar ("any" first), applied at once. */
function ChoiceField(props: {
  label: string;
  testId: string;
  value: string | undefined;
  choices: [value: string, label: string][];
  onChange(value: string | undefined): void;
}) {
  return (
    <label className="field">
      <span>{props.label}</span>
      <select
        data-testid={props.testId}
        value={props.value ?? ""}
        onChange={(e) => props.onChange(e.target.value || undefined)}
      >
        <option value="">any</option>
        {props.choices.map(([value, label]) => (
          <option key={value} value={value}>
            {label}
          </option>
        ))}
      </select>
    </label>
  );
}

/**
 * Finding jobs: status (any of several), model, tenant, time range, error code, fallback, and a
 * search box for a job id or words of the prompt, plus `key=value` metadata. Choices apply at
 * once; typed fields apply with Enter or "Search".
 */
export function FilterBar({ filter, tenants, onChange }: FilterBarProps) {
  const [q, setQ] = useState(filter.q ?? "");
  const [errorCode, setErrorCode] = useState(filter.error_code ?? "");
  const [metadata, setMetadata] = useState(filter.metadata.join(" "));
  // The address bar (back, forward, a link) can change the filter under the typed fields.
  useEffect(() => {
    setQ(filter.q ?? "");
    setErrorCode(filter.error_code ?? "");
    setMetadata(filter.metadata.join(" "));
  }, [filter]);

  const apply = (patch: Partial<JobFilter>) => onChange({ ...filter, ...patch });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    apply({
      q: q.trim() === "" ? undefined : q.trim(),
      error_code: errorCode.trim() === "" ? undefined : errorCode.trim(),
      metadata: metadata.split(/\s+/).filter((pair) => /^[^=]+=/.test(pair)),
    });
  };
  const toggleStatus = (status: JobStatus, on: boolean) =>
    apply({ status: on ? [...filter.status, status] : filter.status.filter((s) => s !== status) });

  return (
    <search>
      <form className="filter-bar" aria-label="Find jobs" onSubmit={submit} data-testid="filter-bar">
        <div className="filter-row">
          <TypedField
            label="Search"
            testId="search-input"
            type="search"
            grow
            placeholder="job id or words of the prompt"
            value={q}
            onChange={setQ}
          />
          <TypedField
            label="Metadata"
            testId="metadata-input"
            placeholder="key=value"
            value={metadata}
            onChange={setMetadata}
          />
          <TypedField
            label="Error code"
            testId="error-code-input"
            placeholder="upstream_timeout"
            value={errorCode}
            onChange={setErrorCode}
          />
          <div className="filter-actions">
            <button type="submit" data-testid="search-submit">
              Search
            </button>
            {isFiltered(filter) && (
              <button
                type="button"
                className="secondary"
                data-testid="filter-clear"
                onClick={() => onChange(EMPTY_FILTER)}
              >
                Clear
              </button>
            )}
          </div>
        </div>
        <div className="filter-row">
          <fieldset className="statuses">
            <legend>Status</legend>
            {STATUSES.map((status) => (
              <label key={status} className="check">
                <input
                  type="checkbox"
                  data-testid={`status-${status}`}
                  checked={filter.status.includes(status)}
                  onChange={(e) => toggleStatus(status, e.target.checked)}
                />
                {status}
              </label>
            ))}
          </fieldset>
          <ChoiceField
            label="Model"
            testId="model-filter"
            value={filter.model}
            choices={MODELS.map((m) => [m, m])}
            onChange={(model) => apply({ model })}
          />
          <ChoiceField
            label="Tenant"
            testId="tenant-filter"
            value={filter.tenant}
            choices={[
              // A tenant named by the address but not (yet) listed stays choosable.
              ...(filter.tenant !== undefined && !tenants.some((t) => t.id === filter.tenant)
                ? [[filter.tenant, filter.tenant] as [string, string]]
                : []),
              ...tenants.map((t): [string, string] => [t.id, t.name]),
            ]}
            onChange={(tenant) => apply({ tenant })}
          />
          <ChoiceField
            label="Fallback"
            testId="fallback-filter"
            value={filter.fallback_used}
            choices={[
              ["true", "used"],
              ["false", "not used"],
            ]}
            onChange={(v) => apply({ fallback_used: v as JobFilter["fallback_used"] })}
          />
          {(
            [
              ["created_after", "Created from", "created-after"],
              ["created_before", "Created before", "created-before"],
            ] as const
          ).map(([key, label, testId]) => (
            <label key={key} className="field">
              <span>{label}</span>
              <input
                type="datetime-local"
                data-testid={testId}
                value={toLocalInput(filter[key])}
                onChange={(e) => apply({ [key]: fromLocalInput(e.target.value) })}
              />
            </label>
          ))}
        </div>
      </form>
    </search>
  );
}
