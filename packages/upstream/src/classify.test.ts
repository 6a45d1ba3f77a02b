import { describe, expect, it } from "vitest";
import {
  classifyErrorBody,
  classifyHttpError,
  classifyNetworkError,
  extractRequestId,
  isNetworkError,
  isPolicyText,
  parseErrorEnvelope,
  parseRetryAfter,
} from "./classify";

const comet = (message: string, code = "", status = 400) => ({
  status,
  headers: { "content-type": "application/json" },
  body: JSON.stringify({
    error: { message: `${message} (request id: 2025062310)`, type: "comet_api_error", param: "", code },
  }),
  model: "gpt-4o-image",
});

describe("classifyHttpError: section E rows", () => {
  const cases: Array<[string, ReturnType<typeof comet>, string, string, boolean, boolean]> = [
    ["400 validation", comet("temperature must be a number"), "bad_request", "request_bug", false, false],
    ["400 naming the model", comet("model name is required"), "bad_request", "request_bug", false, true],
    ["422", comet("unprocessable", "", 422), "bad_request", "request_bug", false, false],
    [
      "500 invalid_request",
      comet("Invalid request", "invalid_request", 500),
      "bad_request",
      "request_bug",
      false,
      false,
    ],
    [
      "400 moderation_blocked",
      comet("Your request was rejected as a result of our safety system.", "moderation_blocked"),
      "content_policy",
      "content_policy",
      false,
      false,
    ],
    [
      "400 content_policy_violation",
      comet("blocked", "content_policy_violation"),
      "content_policy",
      "content_policy",
      false,
      false,
    ],
    ["401", comet("Invalid token", "", 401), "upstream_auth", "auth", false, false],
    [
      "403 insufficient_user_quota",
      comet("user quota is not enough", "insufficient_user_quota", 403),
      "upstream_quota",
      "quota",
      false,
      false,
    ],
    [
      "403 pre_consume_token_quota_failed",
      comet("quota", "pre_consume_token_quota_failed", 403),
      "upstream_quota",
      "quota",
      false,
      false,
    ],
    [
      "429 insufficient_quota",
      comet("You exceeded your current quota", "insufficient_quota", 429),
      "upstream_quota",
      "quota",
      false,
      false,
    ],
    [
      "403 other",
      comet("This token has no access to model gpt-4o-image", "", 403),
      "upstream_auth",
      "model_forbidden",
      false,
      true,
    ],
    ["404 json", comet("not found", "", 404), "upstream_error", "wrong_path", false, false],
    ["413", comet("Request Entity Too Large", "", 413), "bad_request", "payload_too_large", false, false],
    ["429 rate limit", comet("当前分组上游负载已饱和", "", 429), "upstream_rate_limited", "rate_limited", true, true],
    [
      "503 model_not_found",
      comet("当前分组 default 下对于模型 gpt-4o-image 无可用渠道", "model_not_found", 503),
      "upstream_unavailable",
      "model_not_found",
      false,
      true,
    ],
    ["500", comet("The server had an error", "", 500), "upstream_error", "transient_upstream", true, true],
    ["502", comet("bad gateway", "", 502), "upstream_error", "transient_upstream", true, true],
    [
      "503 overloaded",
      comet("overloaded", "server_is_overloaded", 503),
      "upstream_error",
      "transient_upstream",
      true,
      true,
    ],
    ["504", comet("Gateway Timeout", "", 504), "upstream_error", "transient_upstream", true, true],
  ];
  for (const [name, input, code, errorClass, retryable, fallback] of cases) {
    it(name, () => {
      const result = classifyHttpError(input);
      expect(result).toMatchObject({
        code,
        errorClass,
        retryable,
        fallback,
        httpStatus: input.status,
        requestId: "2025062310",
      });
    });
  }

  it("HTML 524 from Cloudflare is transient", () => {
    const result = classifyHttpError({
      status: 524,
      headers: { "content-type": "text/html" },
      body: "<!DOCTYPE html><html>A timeout occurred</html>",
    });
    expect(result).toMatchObject({
      code: "upstream_error",
      errorClass: "transient_upstream",
      retryable: true,
      fallback: true,
    });
  });

  it("HTML 404 and 301 are a wrong base URL", () => {
    expect(
      classifyHttpError({ status: 404, headers: { "content-type": "text/html" }, body: "<html>404</html>" }).errorClass,
    ).toBe("wrong_path");
    const redirect = classifyHttpError({
      status: 301,
      headers: { location: "https://api.cometapi.com/v1/chat/completions/" },
      body: "",
    });
    expect(redirect).toMatchObject({ errorClass: "wrong_path", retryable: false, fallback: false });
    expect(redirect.detail).toContain("https://api.cometapi.com/v1/chat/completions/");
  });

  it("HTML on a 200 is a wrong path; a JSON error on a 200 is classified by its code", () => {
    expect(
      classifyHttpError({ status: 200, headers: { "content-type": "text/html" }, body: "<html></html>" }).errorClass,
    ).toBe("wrong_path");
    expect(classifyHttpError({ ...comet("no channel", "model_not_found", 200) })).toMatchObject({
      errorClass: "model_not_found",
      fallback: true,
    });
    expect(
      classifyHttpError({ ...comet("bad response status code 500", "bad_response_status_code", 200) }),
    ).toMatchObject({
      code: "upstream_error",
      errorClass: "transient_upstream",
      retryable: true,
    });
  });

  it("x-should-retry overrides the status", () => {
    expect(classifyHttpError({ status: 500, headers: { "x-should-retry": "false" }, body: "" }).retryable).toBe(false);
    expect(classifyHttpError({ status: 409, headers: {}, body: "" }).retryable).toBe(true);
    expect(classifyHttpError({ status: 400, headers: { "x-should-retry": "true" }, body: "" })).toMatchObject({
      errorClass: "transient_upstream",
      retryable: true,
    });
  });

  it("prefers the x-request-id header and keeps the upstream code", () => {
    const result = classifyHttpError({
      ...comet("x", "insufficient_user_quota", 403),
      headers: { "x-request-id": "hdr-1" },
    });
    expect(result).toMatchObject({ requestId: "hdr-1", upstreamCode: "insufficient_user_quota" });
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2025-06-23T10:00:00Z");
  it("prefers retry-after-ms (float) over retry-after", () => {
    expect(parseRetryAfter({ "retry-after-ms": "1500.7", "retry-after": "9" }, now)).toBe(1501);
  });
  it("reads seconds and HTTP dates", () => {
    expect(parseRetryAfter({ "retry-after": "3" }, now)).toBe(3000);
    expect(parseRetryAfter({ "retry-after": "Mon, 23 Jun 2025 10:00:05 GMT" }, now)).toBe(5000);
    expect(parseRetryAfter({ "retry-after": "Mon, 23 Jun 2025 09:00:00 GMT" }, now)).toBe(0);
  });
  it("ignores junk and absence", () => {
    expect(parseRetryAfter({}, now)).toBeUndefined();
    expect(parseRetryAfter({ "retry-after": "soon" }, now)).toBeUndefined();
    expect(parseRetryAfter({ "retry-after-ms": "-5" }, now)).toBeUndefined();
  });
  it("is attached to 429 classifications", () => {
    expect(classifyHttpError({ ...comet("slow down", "", 429), headers: { "retry-after": "2" } }).retryAfterMs).toBe(
      2000,
    );
  });
});

describe("in-stream errors and helpers", () => {
  it("classifies mid-stream error envelopes", () => {
    const envelope = { message: "The server had an error (request id: abc)", type: "server_error", code: undefined };
    expect(classifyErrorBody(envelope, { httpStatus: 200, requestId: undefined }, true)).toMatchObject({
      code: "upstream_error",
      errorClass: "mid_stream_error",
      retryable: true,
      fallback: true,
      requestId: "abc",
    });
    expect(
      classifyErrorBody(
        { message: "blocked", type: undefined, code: "content_filter" },
        { httpStatus: 200, requestId: "r" },
        true,
      ).code,
    ).toBe("content_policy");
  });

  it("parses envelopes in the known shapes", () => {
    expect(parseErrorEnvelope('{"error":{"message":"m","type":"t","code":""}}')).toEqual({
      message: "m",
      type: "t",
      code: undefined,
    });
    expect(parseErrorEnvelope('{"object":"error","message":"vllm","code":500}')).toEqual({
      message: "vllm",
      type: undefined,
      code: "500",
    });
    expect(parseErrorEnvelope('{"error":"plain"}')).toEqual({ message: "plain", type: undefined, code: undefined });
    expect(parseErrorEnvelope('{"choices":[]}')).toBeNull();
    expect(parseErrorEnvelope("<html>")).toBeNull();
  });

  it("extracts request ids and policy text", () => {
    expect(extractRequestId("model name is required (request id: 20250623101010)")).toBe("20250623101010");
    expect(extractRequestId("no id")).toBeUndefined();
    expect(isPolicyText("this request may violate our content policy")).toBe(true);
    expect(isPolicyText("该请求可能违反了我们的内容政策")).toBe(true);
    expect(isPolicyText("please try again later")).toBe(false);
  });

  it("classifies network failures", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    expect(isNetworkError(new TypeError("fetch failed", { cause: refused }))).toBe(true);
    expect(classifyNetworkError(refused, false)).toMatchObject({
      code: "upstream_unavailable",
      errorClass: "network",
      retryable: true,
      fallback: true,
    });
    expect(classifyNetworkError(new Error("aborted"), true)).toMatchObject({
      code: "upstream_timeout",
      errorClass: "network",
    });
  });
});
