package routing

import "testing"

func TestKeyUnusable(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		want   bool
		quota  bool
	}{
		// Unusable keys, both APIs.
		{"openai 401 invalid_api_key", 401, `{"error":{"message":"Incorrect API key provided: sk-abc***xyz.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`, true, false},
		{"anthropic 401 authentication_error", 401, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`, true, false},
		{"401 without body", 401, ``, true, false},
		{"anthropic 403 permission_error", 403, `{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}}`, true, false},
		{"openai 403 region", 403, `{"error":{"code":"unsupported_country_region_territory","message":"Country, region, or territory not supported","param":null,"type":"request_forbidden"}}`, true, false},
		{"openai 403 organization", 403, `{"error":{"message":"You are not allowed to access this organization.","type":"invalid_request_error","code":null}}`, true, false},
		{"openai 403 project", 403, `{"error":{"message":"Project proj_123 is archived.","type":"invalid_request_error"}}`, true, false},
		{"openai 403 api key scopes", 403, `{"error":{"message":"You have insufficient permissions for this operation. Your API key is restricted.","type":"invalid_request_error"}}`, true, false},
		{"openai 429 insufficient_quota", 429, `{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`, true, true},
		{"anthropic 400 credit balance", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}}`, true, true},
		// Look-alikes that are not.
		{"openai 429 rate limit", 429, `{"error":{"message":"Rate limit reached for gpt-4o in organization org-1 on tokens per min (TPM).","type":"tokens","code":"rate_limit_exceeded"}}`, false, false},
		{"anthropic 429 rate_limit_error", 429, `{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}`, false, false},
		{"429 quota in message only", 429, `{"error":{"message":"quota of requests per minute exceeded","type":"requests","code":"rate_limit_exceeded"}}`, false, false},
		{"openai 403 model access", 403, `{"error":{"message":"Project proj_123 does not have access to model gpt-5","type":"invalid_request_error","code":"model_not_found"}}`, false, false},
		{"403 html from a proxy", 403, `<html><body>Forbidden</body></html>`, false, false},
		{"anthropic 403 other type", 403, `{"type":"error","error":{"type":"invalid_request_error","message":"Forbidden"}}`, false, false},
		{"anthropic 400 other", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: 100000 > 8192, which is the maximum allowed"}}`, false, false},
		{"400 credit in the prompt echo", 400, `{"error":{"message":"Invalid content","type":"invalid_request_error","param":"Your credit balance is too low"}}`, false, false},
		{"openai 404 model_not_found", 404, `{"error":{"message":"The model gpt-9 does not exist or you do not have access to it.","type":"invalid_request_error","code":"model_not_found"}}`, false, false},
		{"200 mentioning insufficient_quota", 200, `{"error":{"code":"insufficient_quota"}}`, false, false},
		{"500 server error", 500, `{"error":{"message":"The server had an error","type":"server_error"}}`, false, false},
		{"529 overloaded", 529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, false, false},
		{"402 payment required", 402, `{"error":{"message":"Insufficient credits"}}`, false, false},
	}
	for _, c := range cases {
		got, ok := KeyUnusable(c.status, []byte(c.body))
		if ok != c.want || got.Quota != c.quota {
			t.Errorf("%s: KeyUnusable = %+v, %v; want %v (quota %v)", c.name, got, ok, c.want, c.quota)
		}
		if ok && got.Reason == "" {
			t.Errorf("%s: no reason", c.name)
		}
	}
}

func TestContextLength(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		want   bool
	}{
		{"openai", 400, `{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`, true},
		{"anthropic", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}`, true},
		{"other 400", 400, `{"error":{"message":"Invalid value for temperature","code":"invalid_value"}}`, false},
		{"200", 200, `{"error":{"code":"context_length_exceeded"}}`, false},
		{"500", 500, `{"error":{"message":"prompt is too long"}}`, false},
	}
	for _, c := range cases {
		if got := ContextLength(c.status, []byte(c.body)); got != c.want {
			t.Errorf("%s: ContextLength = %v, want %v", c.name, got, c.want)
		}
	}
}
