package handlers

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/valyala/fasthttp"

	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/upstream"
)

func TestKeys_Check(t *testing.T) {
	keys := NewKeys([]string{"key-one", "key-two"})
	tests := []struct {
		name      string
		headers   map[string]string
		wantOK    bool
		wantStyle upstream.KeyStyle
	}{
		{"bearer", map[string]string{"Authorization": "Bearer key-one"}, true, upstream.KeyBearer},
		{"bearer lower-case scheme", map[string]string{"Authorization": "bearer key-two"}, true, upstream.KeyBearer},
		{"x-api-key", map[string]string{"x-api-key": "key-two"}, true, upstream.KeyXAPIKey},
		{"wrong bearer", map[string]string{"Authorization": "Bearer nope"}, false, upstream.KeyBearer},
		{"prefix of a key", map[string]string{"Authorization": "Bearer key-on"}, false, upstream.KeyBearer},
		{"none", nil, false, upstream.KeyXAPIKey},
		{"basic auth", map[string]string{"Authorization": "Basic a2V5LW9uZQ=="}, false, upstream.KeyXAPIKey},
		{"stale bearer with good x-api-key", map[string]string{"Authorization": "Bearer old", "x-api-key": "key-one"}, true, upstream.KeyXAPIKey},
		{"empty bearer", map[string]string{"Authorization": "Bearer "}, false, upstream.KeyXAPIKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h fasthttp.RequestHeader
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			style, ok := keys.Check(&h)
			assert.Equal(t, tt.wantOK, ok)
			if ok {
				assert.Equal(t, tt.wantStyle, style)
			}
		})
	}
}

func TestKeys_MatchNoAllocs(t *testing.T) {
	keys := NewKeys([]string{"a", "b", "c"})
	k := []byte("b")
	assert.Zero(t, testing.AllocsPerRun(100, func() { keys.Match(k) }))
}

func TestFamilyOf(t *testing.T) {
	tests := map[string]stats.Family{
		"/v1/messages":              stats.FamilyAnthropic,
		"/v1/messages/count_tokens": stats.FamilyAnthropic,
		"/v1/messages/batches/x":    stats.FamilyAnthropic,
		"/v1/messagesx":             stats.FamilyOpenAI,
		"/v1/chat/completions":      stats.FamilyOpenAI,
		"/v1/responses":             stats.FamilyOpenAI,
		"/":                         stats.FamilyOpenAI,
	}
	for path, want := range tests {
		assert.Equal(t, want, FamilyOf([]byte(path)), path)
	}
}

func TestErrorBody_Shapes(t *testing.T) {
	assert.JSONEq(t, `{"error":{"message":"Permission Denied","type":"invalid_request_error","code":"invalid_api_key"}}`,
		string(errorBody(stats.FamilyOpenAI, errAuth, MsgPermissionDenied)))
	assert.JSONEq(t, `{"type":"error","error":{"type":"authentication_error","message":"Permission Denied"}}`,
		string(errorBody(stats.FamilyAnthropic, errAuth, MsgPermissionDenied)))
	assert.Equal(t, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"x\"}}\n\n",
		string(streamErrorEvent(stats.FamilyAnthropic, "x")))
	assert.Equal(t, "data: {\"error\":{\"message\":\"x\",\"type\":\"upstream_error\",\"code\":\"stream_interrupted\"}}\n\n",
		string(streamErrorEvent(stats.FamilyOpenAI, "x")))
}
