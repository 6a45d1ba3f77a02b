import { UpstreamError } from "./upstream-error";

/** Awaits a call that must fail with an UpstreamError (for the integration tests of this package). */
export async function expectUpstreamFailure(promise: Promise<unknown>): Promise<UpstreamError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof UpstreamError) return error;
    throw error;
  }
  throw new Error("expected the call to fail with an UpstreamError");
}
