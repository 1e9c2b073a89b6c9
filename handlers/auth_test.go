package handlers

import (
	"errors"
	"hash/maphash"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		{"key with a suffix", map[string]string{"Authorization": "Bearer key-one1"}, false, upstream.KeyBearer},
		{"last byte differs", map[string]string{"x-api-key": "key-twx"}, false, upstream.KeyXAPIKey},
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

// TestKeys_HashCollisionStillComparesBytes: equal hashes alone never let a
// key in; the bytes are compared too.
func TestKeys_HashCollisionStillComparesBytes(t *testing.T) {
	keys := NewKeys([]string{"the-real-key"})
	keys.sums[0] = maphash.String(keys.seed, "impostor") // as if "impostor" collided
	assert.False(t, keys.Match([]byte("impostor")))
	keys.sums[0] = maphash.String(keys.seed, "the-real-key")
	assert.True(t, keys.Match([]byte("the-real-key")))
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

func TestErrorHandler_Shapes(t *testing.T) {
	app := fiber.New(fiber.Config{ErrorHandler: ErrorHandler})
	app.Post("/v1/messages", func(*fiber.Ctx) error { return fiber.ErrRequestHeaderFieldsTooLarge })
	app.Post("/v1/chat/completions", func(*fiber.Ctx) error { return fiber.ErrRequestEntityTooLarge })
	app.Get("/boom", func(*fiber.Ctx) error { return errors.New("secret internal detail") })
	tests := []struct {
		method, path string
		status       int
		body         string
	}{
		{"POST", "/v1/messages", 431, `{"type":"error","error":{"type":"invalid_request_error","message":"request header fields too large"}}`},
		{"POST", "/v1/chat/completions", 413, `{"error":{"message":"request body too large","type":"invalid_request_error","code":"request_too_large"}}`},
		{"GET", "/v1/nowhere", 404, `{"error":{"message":"not found","type":"invalid_request_error","code":"not_found"}}`},
		{"GET", "/boom", 500, `{"error":{"message":"internal error","type":"server_error","code":"internal_error"}}`},
	}
	for _, tt := range tests {
		resp, err := app.Test(httptest.NewRequest(tt.method, tt.path, nil))
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		assert.Equal(t, tt.status, resp.StatusCode, tt.path)
		assert.JSONEq(t, tt.body, string(b), tt.path)
	}
}
