import { useCallback, useMemo, useState } from "react";
import { AdminApi, UnauthorizedError } from "../api-client";
import { Dashboard } from "./dashboard";
import { SignIn } from "./sign-in";

const TOKEN_KEY = "darkroom.admin-token";

function readStoredToken(): string | null {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function App() {
  const [token, setToken] = useState<string | null>(readStoredToken);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const api = useMemo(() => (token === null ? null : new AdminApi(token)), [token]);

  const signOut = useCallback(() => {
    window.sessionStorage.removeItem(TOKEN_KEY);
    setToken(null);
  }, []);

  const rejected = useCallback((e: UnauthorizedError) => {
    window.sessionStorage.removeItem(TOKEN_KEY);
    setToken(null);
    setError(`Signed out: ${e.message}`);
  }, []);

  const signIn = async (candidate: string) => {
    setBusy(true);
    setError(null);
    try {
      // Checks the token before keeping it, so a typo is reported here and not as a broken dashboard.
      await new AdminApi(candidate).overview();
      window.sessionStorage.setItem(TOKEN_KEY, candidate);
      setToken(candidate);
    } catch (e) {
      setError(
        e instanceof UnauthorizedError
          ? "That admin token was not accepted."
          : `Could not reach the API: ${e instanceof Error ? e.message : String(e)}`,
      );
    } finally {
      setBusy(false);
    }
  };

  if (api === null) return <SignIn error={error} busy={busy} onSubmit={(t) => void signIn(t)} />;
  return <Dashboard key={api.token} api={api} onSignOut={signOut} onUnauthorized={rejected} />;
}
