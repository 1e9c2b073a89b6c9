package upstream

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestClassifier_Status(t *testing.T) {
	c := NewClassifier([]int{429, 500, 502, 503, 504, 529})
	tests := []struct {
		name   string
		status int
		body   string
		want   Reason
	}{
		{"200", 200, `{"ok":true}`, ReasonOK},
		{"204", 204, ``, ReasonOK},
		{"429 no body", 429, ``, ReasonRateLimit},
		{"403 mentioning rate limit", 403, `{"error":{"message":"Rate Limit reached for gpt-4"}}`, ReasonRateLimit},
		{"400 rate_limit type", 400, `{"error":{"type":"rate_limit_error"}}`, ReasonRateLimit},
		{"503 too many requests text", 503, `Too Many Requests`, ReasonRateLimit},
		{"500", 500, `{"error":{"message":"boom"}}`, ReasonServerError},
		{"502", 502, `bad gateway`, ReasonServerError},
		{"503", 503, ``, ReasonServerError},
		{"504", 504, ``, ReasonServerError},
		{"529 overloaded", 529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, ReasonServerError},
		{"501 not listed", 501, ``, ReasonClientError},
		{"400 context length", 400, `{"error":{"message":"This model's maximum context length is 8192 tokens","code":"context_length_exceeded"}}`, ReasonClientError},
		{"401", 401, `{"error":{"message":"Incorrect API key"}}`, ReasonClientError},
		{"404", 404, `not found`, ReasonClientError},
		{"413", 413, `too large`, ReasonClientError},
		{"422", 422, `unprocessable`, ReasonClientError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, c.Status(tt.status, []byte(tt.body)))
		})
	}
}

func TestClassifier_StatusRetrySetting(t *testing.T) {
	c := NewClassifier([]int{503})
	assert.Equal(t, ReasonClientError, c.Status(500, nil), "500 is not in the list")
	assert.Equal(t, ReasonServerError, c.Status(503, nil))
	assert.Equal(t, ReasonRateLimit, c.Status(429, nil), "429 is always a rate limit")
}

func TestClassifier_FirstEvent(t *testing.T) {
	c := NewClassifier(nil)
	tests := []struct {
		name, event string
		want        Reason
	}{
		{"openai chunk", `data: {"choices":[{"delta":{"content":"hi"}}]}` + "\n\n", ReasonOK},
		{"anthropic message_start", "event: message_start\ndata: {\"type\":\"message_start\"}\n\n", ReasonOK},
		{"openai rate limit error", `data: {"error":{"message":"Rate limit reached","type":"requests"}}` + "\n\n", ReasonRateLimit},
		{"anthropic rate limit", "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}\n\n", ReasonRateLimit},
		{"anthropic overloaded", "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n", ReasonServerError},
		{"openai server error", `data: {"error":{"message":"The server had an error","type":"server_error"}}` + "\n\n", ReasonServerError},
		{"other error relayed", `data: {"error":{"message":"invalid model","type":"invalid_request_error"}}` + "\n\n", ReasonOK},
		{"content mentioning rate limit is no error", `data: {"choices":[{"delta":{"content":"rate limit"}}]}` + "\n\n", ReasonOK},
		{"crlf", "event: error\r\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\"}}\r\n\r\n", ReasonRateLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, c.FirstEvent([]byte(tt.event)))
		})
	}
}

func TestMentionsRateLimit(t *testing.T) {
	assert.True(t, MentionsRateLimit([]byte("RATE LIMIT")))
	assert.True(t, MentionsRateLimit([]byte("x rate_limit_exceeded")))
	assert.True(t, MentionsRateLimit([]byte("Too many requests, slow down")))
	assert.False(t, MentionsRateLimit([]byte("rate of 5 limit")))
	long := strings.Repeat("x", 10000) + " rate limit"
	assert.True(t, MentionsRateLimit([]byte(long)), "found in the tail of a long body")
	assert.False(t, MentionsRateLimit([]byte(strings.Repeat("x", 5000)+" rate limit "+strings.Repeat("x", 5000))), "middle of a huge body is not scanned")
}

// Finding 6 of the hardening issue: a 404 naming the model
// "gpt-4o-ratelimit-test" was taken for a rate limit and retried. Body text
// counts only for 403 and 5xx (phrases, not substrings of identifiers), a
// 400-family answer only by its error type or code, 401 and 404 never.
func TestClassifier_StatusOrdinary4xxNotRateLimit(t *testing.T) {
	c := NewClassifier([]int{429, 500, 502, 503, 504, 529})
	tests := []struct {
		name   string
		status int
		body   string
		want   Reason
	}{
		{"404 model name", 404, `{"error":{"message":"The model gpt-4o-ratelimit-test does not exist","type":"invalid_request_error","code":"model_not_found"}}`, ReasonClientError},
		{"404 rate limit text", 404, `{"error":{"message":"rate limit docs moved"}}`, ReasonClientError},
		{"401 rate limit text", 401, `{"error":{"message":"Too many requests with an invalid key"}}`, ReasonClientError},
		{"400 free text", 400, `{"error":{"message":"prompt mentions a rate limit","type":"invalid_request_error"}}`, ReasonClientError},
		{"400 rate limit code", 400, `{"error":{"message":"slow down","code":"rate_limit_exceeded"}}`, ReasonRateLimit},
		{"403 model name", 403, `{"error":{"message":"no access to my-ratelimit-model"}}`, ReasonClientError},
		{"403 phrase", 403, `{"error":{"message":"Rate limits exceeded for this key"}}`, ReasonRateLimit},
		{"500 identifier", 500, `{"error":{"message":"crash in ratelimit.go/handler"}}`, ReasonServerError},
		{"503 rate limited", 503, `You are being rate limited`, ReasonRateLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, c.Status(tt.status, []byte(tt.body)))
		})
	}
}

func TestMentionsRateLimit_NoAllocs(t *testing.T) {
	body := []byte(`{"error":{"message":"You exceeded your current quota","type":"insufficient_quota"}}`)
	allocs := testing.AllocsPerRun(100, func() { MentionsRateLimit(body) })
	assert.Zero(t, allocs)
}

func BenchmarkClassifier_Status(b *testing.B) {
	c := NewClassifier([]int{429, 500, 502, 503, 504, 529})
	body := []byte(`{"error":{"message":"The server had an error while processing your request","type":"server_error"}}`)
	b.ReportAllocs()
	for b.Loop() {
		c.Status(500, body)
	}
}
