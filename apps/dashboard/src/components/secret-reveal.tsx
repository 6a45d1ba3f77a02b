import { type ReactNode, useEffect, useId, useRef, useState } from "react";

interface SecretFieldProps {
  label: string;
  value: string;
  testId: string;
}

/** A secret in a read-only field with a copy button; without clipboard access it is selected for Ctrl+C. */
function SecretField({ label, value, testId }: SecretFieldProps) {
  const id = useId();
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<string | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied("Copied.");
    } catch {
      input.current?.select();
      setCopied("Selected: press Ctrl+C (⌘C) to copy.");
    }
  };
  return (
    <div className="secret-field">
      <label htmlFor={id}>{label}</label>
      <div className="secret-row">
        <input
          id={id}
          ref={input}
          data-testid={testId}
          readOnly
          value={value}
          spellCheck={false}
          autoComplete="off"
          onFocus={(e) => e.currentTarget.select()}
        />
        <button type="button" onClick={() => void copy()} data-testid={`${testId}-copy`}>
          Copy
        </button>
      </div>
      <p className="muted small" role="status">
        {copied}
      </p>
    </div>
  );
}

interface OneTimeSecretsProps {
  title: string;
  secrets: { label: string; value: string; testId: string }[];
  testId: string;
  onDone(): void;
  children?: ReactNode;
}

/**
 * Secrets the API answers once (a new API key, a new webhook secret): shown until dismissed,
 * then gone from the page. Focus moves here so a keyboard or screen-reader user meets the warning.
 */
export function OneTimeSecrets({ title, secrets, testId, onDone, children }: OneTimeSecretsProps) {
  const headingId = useId();
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    heading.current?.focus();
  }, []);
  return (
    <section className="callout" data-testid={testId} aria-labelledby={headingId}>
      <h4 id={headingId} ref={heading} tabIndex={-1}>
        {title}
      </h4>
      <p className="warning" role="note">
        Copy it now: this is the only time it is shown. Store it somewhere safe.
      </p>
      {secrets.map((s) => (
        <SecretField key={s.testId} {...s} />
      ))}
      {children}
      <button type="button" className="ghost" onClick={onDone} data-testid={`${testId}-done`}>
        I have stored it
      </button>
    </section>
  );
}
