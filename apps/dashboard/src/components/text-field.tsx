import type { ReactNode } from "react";

interface TextFieldProps {
  id: string;
  label: string;
  value: string;
  /** The API's word on this field, shown beside it and read out with it. */
  error: string | null | undefined;
  help?: ReactNode;
  inputMode?: "text" | "numeric" | "decimal";
  placeholder?: string;
  onChange(value: string): void;
}

/** A labelled text input with its help line and its error; `data-testid`s are the id, `-error`. */
export function TextField({ id, label, value, error, help, inputMode, placeholder, onChange }: TextFieldProps) {
  const invalid = error !== null && error !== undefined;
  const describedBy = [invalid ? `${id}-error` : null, help === undefined ? null : `${id}-help`].filter(Boolean);
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        data-testid={id}
        type="text"
        inputMode={inputMode}
        autoComplete="off"
        spellCheck={false}
        value={value}
        placeholder={placeholder}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={invalid}
        aria-describedby={describedBy.length === 0 ? undefined : describedBy.join(" ")}
      />
      {invalid && (
        <p id={`${id}-error`} className="field-error" data-testid={`${id}-error`}>
          {error}
        </p>
      )}
      {help !== undefined && (
        <p id={`${id}-help`} className="muted small field-help">
          {help}
        </p>
      )}
    </div>
  );
}

/** After a refusal: the keyboard lands on the refused field, whose message is read out with it. */
export function focusField(id: string): void {
  document.getElementById(id)?.focus();
}
