import { type FormEvent, useState } from "react";

interface SignInProps {
  error: string | null;
  busy: boolean;
  onSubmit(token: string): void;
}

export function SignIn({ error, busy, onSubmit }: SignInProps) {
  const [token, setToken] = useState("");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (token.trim() !== "") onSubmit(token.trim());
  };
  return (
    <main className="sign-in">
      <form className="sign-in-card" onSubmit={submit} aria-describedby={error === null ? undefined : "sign-in-error"}>
        <h1>Darkroom</h1>
        <p className="muted">Sign in with the admin token (ADMIN_TOKEN) to see every tenant's jobs.</p>
        <label htmlFor="admin-token">Admin token</label>
        <input
          id="admin-token"
          data-testid="token-input"
          type="password"
          autoComplete="current-password"
          spellCheck={false}
          value={token}
          onChange={(e) => setToken(e.target.value)}
          aria-invalid={error !== null}
          required
        />
        {error !== null && (
          <p id="sign-in-error" className="form-error" role="alert" data-testid="sign-in-error">
            {error}
          </p>
        )}
        <button type="submit" data-testid="sign-in" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <p className="muted small">The token is kept in this tab only (session storage).</p>
      </form>
    </main>
  );
}
