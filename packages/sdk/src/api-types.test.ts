import type * as domain from "@darkroom/domain";
import { TERMINAL_STATUSES } from "@darkroom/domain";
import type * as signing from "@darkroom/webhooks";
import { describe, expect, expectTypeOf, it } from "vitest";
import type * as sdk from "./api-types";
import { TERMINAL_JOB_STATUSES } from "./api-types";
import type * as sdkWebhooks from "./webhooks";

// The SDK writes out the API's shapes so that its published declarations stand alone. These
// assertions are checked by `npm run typecheck`: a field added to, removed from or changed in the
// server's types and not in the SDK's (or the other way round) fails it.

describe("the SDK's API types", () => {
  it("are the server's", () => {
    expectTypeOf<sdk.JobStatus>().toEqualTypeOf<domain.JobStatus>();
    expectTypeOf<sdk.Model>().toEqualTypeOf<domain.Model>();
    expectTypeOf<sdk.ImageSize>().toEqualTypeOf<domain.ImageSize>();
    expectTypeOf<sdk.ImageQuality>().toEqualTypeOf<domain.ImageQuality>();
    expectTypeOf<sdk.Priority>().toEqualTypeOf<domain.Priority>();
    expectTypeOf<sdk.WebhookEventType>().toEqualTypeOf<domain.WebhookEventType>();
    expectTypeOf<sdk.ProgressStage>().toEqualTypeOf<domain.ProgressStage>();
    expectTypeOf<sdk.JobErrorCode>().toEqualTypeOf<domain.JobErrorCode>();
    expectTypeOf<sdk.ErrorCode>().toEqualTypeOf<domain.ErrorCode>();
    expectTypeOf<sdk.FieldError>().toEqualTypeOf<domain.FieldError>();
    expectTypeOf<sdk.JobErrorView>().toEqualTypeOf<domain.JobErrorView>();
    expectTypeOf<sdk.AttemptStatus>().toEqualTypeOf<domain.AttemptStatus>();
    expectTypeOf<sdk.AttemptView>().toEqualTypeOf<domain.AttemptView>();
    expectTypeOf<sdk.ImageView>().toEqualTypeOf<domain.ImageView>();
    expectTypeOf<sdk.JobView>().toEqualTypeOf<domain.JobView>();
    expectTypeOf<sdk.JobCreateInput>().toEqualTypeOf<domain.JobCreateInput>();
    expectTypeOf<sdk.UsageLimitRefusal>().toEqualTypeOf<domain.UsageLimitRefusal>();
    expectTypeOf<sdk.UsageGroup>().toEqualTypeOf<domain.UsageGroup>();
    expectTypeOf<sdk.UsageFigures>().toEqualTypeOf<domain.UsageFigures>();
    expectTypeOf<sdk.UsageRow>().toEqualTypeOf<domain.UsageRow>();
    expectTypeOf<sdk.UsageLimitView>().toEqualTypeOf<domain.UsageLimitView>();
    expectTypeOf<sdk.UsageLimitsView>().toEqualTypeOf<domain.UsageLimitsView>();
    expectTypeOf<sdk.UsageReport>().toEqualTypeOf<domain.UsageReport>();
  });

  it("of webhook verification are the signer's", () => {
    expectTypeOf<sdkWebhooks.WebhookVerificationReason>().toEqualTypeOf<signing.WebhookVerificationReason>();
    expectTypeOf<sdkWebhooks.VerifyWebhookOptions>().toEqualTypeOf<signing.VerifyWebhookOptions>();
    expectTypeOf<sdkWebhooks.WebhookHeaderSource>().toEqualTypeOf<signing.WebhookHeaderSource>();
    expectTypeOf<typeof sdkWebhooks.verifyWebhook>().toEqualTypeOf<typeof signing.verifyWebhook>();
  });

  it("call the same statuses terminal", () => {
    expect([...TERMINAL_JOB_STATUSES].sort()).toEqual([...TERMINAL_STATUSES].sort());
  });
});
