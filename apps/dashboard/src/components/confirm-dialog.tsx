import { type ReactNode, useEffect, useId, useRef } from "react";

interface ConfirmDialogProps {
  title: string;
  confirmLabel: string;
  busy: boolean;
  /** False while there is nothing to confirm yet (or at all): only the confirm button is disabled. */
  canConfirm?: boolean;
  error: string | null;
  testId: string;
  onConfirm(): void;
  onCancel(): void;
  children: ReactNode;
}

/**
 * A modal question, rendered only while it is asked. The native <dialog> keeps focus inside,
 * closes on Escape and gives focus back to what opened it.
 */
export function ConfirmDialog({
  title,
  confirmLabel,
  busy,
  canConfirm = true,
  error,
  testId,
  onConfirm,
  onCancel,
  children,
}: ConfirmDialogProps) {
  const dialog = useRef<HTMLDialogElement>(null);
  const headingId = useId();
  useEffect(() => {
    const element = dialog.current;
    element?.showModal();
    return () => element?.close();
  }, []);
  return (
    <dialog
      ref={dialog}
      className="confirm"
      data-testid={testId}
      aria-labelledby={headingId}
      onCancel={(e) => {
        e.preventDefault();
        if (!busy) onCancel();
      }}
    >
      <h2 id={headingId}>{title}</h2>
      <div className="confirm-body">{children}</div>
      {error !== null && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <div className="actions">
        <button type="button" className="ghost" onClick={onCancel} disabled={busy} data-testid={`${testId}-cancel`}>
          Cancel
        </button>
        <button
          type="button"
          className="danger"
          onClick={onConfirm}
          disabled={busy || !canConfirm}
          data-testid={`${testId}-confirm`}
        >
          {busy ? "Working…" : confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
