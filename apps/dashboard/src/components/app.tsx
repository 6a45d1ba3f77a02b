import { useCallback, useEffect, useMemo, useState } from "react";
import { AdminApi, UnauthorizedError } from "../api-client";
import { type Route, useRoute } from "../router";
import { Dashboard } from "./dashboard";
import { SignIn } from "./sign-in";
import { TenantsView } from "./tenants-view";

const TOKEN_KEY = "darkroom.admin-token";

const TITLES: Record<Route["view"], string> = {
  jobs: "Darkroom dashboard",
  job: "Job · Darkroom",
  tenants: "Tenants · Darkroom",
  tenant: "Tenant · Darkroom",
};

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
  // The address names the view, so a reload or a shared link opens it again (after signing in).
  const [route, navigate] = useRoute();

  useEffect(() => {
    document.title = TITLES[route.view];
  }, [route.view]);

  // A reload of a signed-in tab renews Bull Board's session for the "Queues" link (signing in opens it).
  // biome-ignore lint/correctness/useExhaustiveDependencies: once, for the token the tab was opened with.
  useEffect(() => {
    api?.queuesSession(true).catch(() => undefined);
  }, []);

  const signOut = useCallback(() => {
    api?.queuesSession(false).catch(() => undefined);
    window.sessionStorage.removeItem(TOKEN_KEY);
    setToken(null);
  }, [api]);

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
      const candidateApi = new AdminApi(candidate);
      await candidateApi.overview();
      // Bull Board's session is open before the "Queues" link shows: a click at once finds it.
      await candidateApi.queuesSession(true).catch(() => undefined);
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
  const view = { api, navigate, onSignOut: signOut, onUnauthorized: rejected };
  return route.view === "jobs" || route.view === "job" ? (
    <Dashboard key={api.token} route={route} {...view} />
  ) : (
    <TenantsView key={api.token} route={route} {...view} />
  );
}
