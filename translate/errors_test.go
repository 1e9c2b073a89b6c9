package translate

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestErrorOpenAIToAnthropic(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"openai shape", 429, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`,
			`{"type":"error","error":{"type":"rate_limit_error","message":"Rate limit reached"}}`},
		{"string error", 400, `{"error":"model not found","object":"error"}`,
			`{"type":"error","error":{"type":"invalid_request_error","message":"model not found"}}`},
		{"vllm message", 404, `{"object":"error","message":"The model x does not exist.","type":"NotFoundError","code":404}`,
			`{"type":"error","error":{"type":"not_found_error","message":"The model x does not exist."}}`},
		{"text", 503, "  upstream connect error \n", `{"type":"error","error":{"type":"overloaded_error","message":"upstream connect error"}}`},
		{"empty", 500, "", `{"type":"error","error":{"type":"api_error","message":"upstream answered 500"}}`},
		{"auth", 401, `{"error":{"message":"Incorrect API key"}}`, `{"type":"error","error":{"type":"authentication_error","message":"Incorrect API key"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ErrorOpenAIToAnthropic(tt.status, []byte(tt.body))
			require.JSONEq(t, tt.want, string(got))
		})
	}
}

func TestErrorAnthropicToOpenAI(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"overloaded", 529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}`,
			`{"error":{"message":"Overloaded","type":"server_error","param":null,"code":null}}`},
		{"invalid", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}`,
			`{"error":{"message":"max_tokens: Field required","type":"invalid_request_error","param":null,"code":null}}`},
		{"rate", 429, `{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}`,
			`{"error":{"message":"slow","type":"rate_limit_error","param":null,"code":null}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ErrorAnthropicToOpenAI(tt.status, []byte(tt.body))
			require.JSONEq(t, tt.want, string(got))
		})
	}
}

func TestError_Bodies(t *testing.T) {
	e := refuse("n", "more than one choice has no Anthropic equivalent")
	require.JSONEq(t, `{"error":{"message":"n: more than one choice has no Anthropic equivalent","type":"invalid_request_error","param":"n","code":null}}`, string(e.OpenAI()))
	require.JSONEq(t, `{"type":"error","error":{"type":"invalid_request_error","message":"n: more than one choice has no Anthropic equivalent"}}`, string(e.Anthropic()))
	require.Equal(t, 400, e.Status)
}

func TestStreamError(t *testing.T) {
	require.Equal(t, "data: {\"error\":{\"message\":\"cut\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n", string(StreamErrorOpenAI(nil, "cut")))
	require.Equal(t, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"cut\"}}\n\n", string(StreamErrorAnthropic(nil, "cut")))
}
