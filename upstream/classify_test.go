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
	long := strings.Repeat("x", 10000) + "rate limit"
	assert.True(t, MentionsRateLimit([]byte(long)), "found in the tail of a long body")
	assert.False(t, MentionsRateLimit([]byte(strings.Repeat("x", 5000)+"rate limit"+strings.Repeat("x", 5000))), "middle of a huge body is not scanned")
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
