package sim

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServer_DefaultChatCompletion(t *testing.T) {
	s := newServer(t, Options{StreamChunks: 5})
	c := newClient(t, waitTimeout)
	body := `{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}`

	got := do(t, c, "POST", s.URL()+"/chat/completions", body)

	require.Equal(t, http.StatusOK, got.status)
	assert.Equal(t, "application/json", got.header.Get("Content-Type"))
	m := decode(t, got.body)
	assert.Equal(t, "chat.completion", str(t, m, "object"))
	assert.Equal(t, "gpt-test", str(t, m, "model"))
	assert.Equal(t, strings.Join(SimulatedText(5), ""), str(t, m, "choices", 0, "message", "content"))
	assert.Equal(t, "stop", str(t, m, "choices", 0, "finish_reason"))
	assert.Equal(t, EstimateTokens([]byte(body)), num(t, m, "usage", "prompt_tokens"))
	assert.Equal(t, 5, num(t, m, "usage", "completion_tokens"))
	assert.Equal(t, EstimateTokens([]byte(body))+5, num(t, m, "usage", "total_tokens"))
}

func TestServer_DefaultOpenAIStream(t *testing.T) {
	s := newServer(t, Options{StreamChunks: 7, ChunkInterval: -1})
	c := newClient(t, waitTimeout)
	body := `{"model":"gpt-stream","stream":true,"stream_options":{"include_usage":true}}`

	got := do(t, c, "POST", s.URL()+"/chat/completions", body)

	require.Equal(t, http.StatusOK, got.status)
	assert.Equal(t, "text/event-stream", got.header.Get("Content-Type"))
	evs := parseSSE(t, got.body)
	require.Len(t, evs, 7+4)
	assert.Equal(t, "[DONE]", evs[len(evs)-1].data, "terminal marker")

	var text strings.Builder
	for i, ev := range evs[:len(evs)-1] {
		m := decode(t, ev.data)
		assert.Equal(t, "chat.completion.chunk", str(t, m, "object"), "event %d", i)
		assert.Equal(t, "gpt-stream", str(t, m, "model"), "event %d", i)
		if choices := path(t, m, "choices").([]any); len(choices) > 0 {
			if s, ok := path(t, choices[0], "delta").(map[string]any)["content"].(string); ok {
				text.WriteString(s)
			}
		}
	}
	assert.Equal(t, "assistant", str(t, decode(t, evs[0].data), "choices", 0, "delta", "role"))
	assert.Equal(t, "stop", str(t, decode(t, evs[len(evs)-3].data), "choices", 0, "finish_reason"))
	assert.Equal(t, strings.Join(SimulatedText(7), ""), text.String())
	usage := decode(t, evs[len(evs)-2].data)
	assert.Equal(t, EstimateTokens([]byte(body)), num(t, usage, "usage", "prompt_tokens"))
	assert.Equal(t, 7, num(t, usage, "usage", "completion_tokens"))
}

func TestServer_DefaultAnthropicMessage(t *testing.T) {
	s := newServer(t, Options{StreamChunks: 3})
	c := newClient(t, waitTimeout)
	body := `{"model":"claude-test","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`

	got := do(t, c, "POST", s.URL()+"/messages", body)

	require.Equal(t, http.StatusOK, got.status)
	m := decode(t, got.body)
	assert.Equal(t, "message", str(t, m, "type"))
	assert.Equal(t, "assistant", str(t, m, "role"))
	assert.Equal(t, "claude-test", str(t, m, "model"))
	assert.Equal(t, "end_turn", str(t, m, "stop_reason"))
	assert.Equal(t, "text", str(t, m, "content", 0, "type"))
	assert.Equal(t, strings.Join(SimulatedText(3), ""), str(t, m, "content", 0, "text"))
	assert.Equal(t, EstimateTokens([]byte(body)), num(t, m, "usage", "input_tokens"))
	assert.Equal(t, 3, num(t, m, "usage", "output_tokens"))
	assert.True(t, strings.HasPrefix(str(t, m, "id"), "msg_"))
}

func TestServer_DefaultAnthropicStream(t *testing.T) {
	s := newServer(t, Options{StreamChunks: 4, ChunkInterval: -1})
	c := newClient(t, waitTimeout)
	body := `{"model":"claude-stream","stream":true,"max_tokens":10}`

	got := do(t, c, "POST", s.URL()+"/messages", body)

	require.Equal(t, http.StatusOK, got.status)
	assert.Equal(t, "text/event-stream", got.header.Get("Content-Type"))
	evs := parseSSE(t, got.body)
	var names []string
	var text strings.Builder
	for _, ev := range evs {
		names = append(names, ev.name)
		m := decode(t, ev.data)
		assert.Equal(t, ev.name, str(t, m, "type"), "event name matches data type")
		if ev.name == "content_block_delta" {
			assert.Equal(t, "text_delta", str(t, m, "delta", "type"))
			text.WriteString(str(t, m, "delta", "text"))
		}
	}
	assert.Equal(t, []string{"message_start", "content_block_start", "ping",
		"content_block_delta", "content_block_delta", "content_block_delta", "content_block_delta",
		"content_block_stop", "message_delta", "message_stop"}, names)
	assert.Equal(t, strings.Join(SimulatedText(4), ""), text.String())
	start := decode(t, evs[0].data)
	assert.Equal(t, "claude-stream", str(t, start, "message", "model"))
	assert.Equal(t, EstimateTokens([]byte(body)), num(t, start, "message", "usage", "input_tokens"))
	assert.Equal(t, 4, num(t, decode(t, evs[len(evs)-2].data), "usage", "output_tokens"))
}

func TestServer_DefaultOtherRoutes(t *testing.T) {
	s := newServer(t, Options{StreamChunks: 2, ChunkInterval: -1})
	c := newClient(t, waitTimeout)

	t.Run("count_tokens", func(t *testing.T) {
		body := `{"model":"claude","messages":[{"role":"user","content":"hello there"}]}`
		got := do(t, c, "POST", s.URL()+"/messages/count_tokens", body)
		require.Equal(t, http.StatusOK, got.status)
		assert.Equal(t, EstimateTokens([]byte(body)), num(t, decode(t, got.body), "input_tokens"))
	})
	t.Run("models", func(t *testing.T) {
		got := do(t, c, "GET", s.URL()+"/models", "")
		require.Equal(t, http.StatusOK, got.status)
		m := decode(t, got.body)
		assert.Equal(t, "list", str(t, m, "object"))
		assert.Len(t, path(t, m, "data"), len(SimulatedModels))
		assert.Equal(t, SimulatedModels[0], str(t, m, "data", 0, "id"))
	})
	t.Run("responses", func(t *testing.T) {
		got := do(t, c, "POST", s.URL()+"/responses", `{"model":"gpt-r","input":"hi"}`)
		require.Equal(t, http.StatusOK, got.status)
		m := decode(t, got.body)
		assert.Equal(t, "response", str(t, m, "object"))
		assert.Equal(t, "completed", str(t, m, "status"))
		assert.Equal(t, "gpt-r", str(t, m, "model"))
		assert.Equal(t, strings.Join(SimulatedText(2), ""), str(t, m, "output", 0, "content", 0, "text"))
		assert.Equal(t, 2, num(t, m, "usage", "output_tokens"))
	})
	t.Run("responses stream", func(t *testing.T) {
		got := do(t, c, "POST", s.URL()+"/responses", `{"model":"gpt-r","input":"hi","stream":true}`)
		require.Equal(t, http.StatusOK, got.status)
		evs := parseSSE(t, got.body)
		require.Len(t, evs, 2+8)
		var deltas strings.Builder
		for i, ev := range evs {
			m := decode(t, ev.data)
			assert.Equal(t, ev.name, str(t, m, "type"))
			assert.Equal(t, i, num(t, m, "sequence_number"))
			if ev.name == "response.output_text.delta" {
				deltas.WriteString(str(t, m, "delta"))
			}
		}
		assert.Equal(t, "response.created", evs[0].name)
		assert.Equal(t, "response.completed", evs[len(evs)-1].name)
		assert.Equal(t, strings.Join(SimulatedText(2), ""), deltas.String())
		done := decode(t, evs[len(evs)-1].data)
		assert.Equal(t, 2, num(t, done, "response", "usage", "output_tokens"))
	})
	t.Run("embeddings", func(t *testing.T) {
		got := do(t, c, "POST", s.URL()+"/embeddings", `{"model":"text-embedding-3-small","input":["a","b"]}`)
		require.Equal(t, http.StatusOK, got.status)
		m := decode(t, got.body)
		assert.Equal(t, "list", str(t, m, "object"))
		assert.Len(t, path(t, m, "data"), 2)
		assert.Equal(t, "embedding", str(t, m, "data", 1, "object"))
	})
}

func TestServer_DefaultErrors(t *testing.T) {
	s := newServer(t, Options{})
	c := newClient(t, waitTimeout)
	tests := []struct {
		name, method, path, body string
		status                   int
		anthropic                bool
		errType                  string
	}{
		{"unknown path", "POST", "/v1/nope", `{}`, 404, false, "invalid_request_error"},
		{"outside v1", "GET", "/models", "", 404, false, "invalid_request_error"},
		{"wrong method", "GET", "/v1/chat/completions", "", 404, false, "invalid_request_error"},
		{"unknown messages path", "POST", "/v1/messages/nope", `{}`, 404, true, "not_found_error"},
		{"openai bad json", "POST", "/v1/chat/completions", `{"model":`, 400, false, "invalid_request_error"},
		{"anthropic bad json", "POST", "/v1/messages", `not json`, 400, true, "invalid_request_error"},
		{"empty body", "POST", "/v1/embeddings", "", 400, false, "invalid_request_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, c, tt.method, "http://"+s.Addr()+tt.path, tt.body)
			require.Equal(t, tt.status, got.status, got.body)
			assertErrorShape(t, got.body, tt.anthropic, tt.errType)
		})
	}
}

// assertErrorShape checks an error body is in the family's shape.
func assertErrorShape(t *testing.T, body string, anthropic bool, errType string) {
	t.Helper()
	m := decode(t, body)
	if anthropic {
		assert.Equal(t, "error", str(t, m, "type"))
		assert.Equal(t, errType, str(t, m, "error", "type"))
		assert.NotEmpty(t, str(t, m, "error", "message"))
		return
	}
	assert.NotContains(t, m, "type")
	assert.Equal(t, errType, str(t, m, "error", "type"))
	assert.NotEmpty(t, str(t, m, "error", "message"))
	assert.Contains(t, path(t, m, "error").(map[string]any), "code")
}

func TestServer_LooseParsing(t *testing.T) {
	s := newServer(t, Options{StreamChunks: 1})
	c := newClient(t, waitTimeout)
	// Valid JSON with odd types is answered, not rejected.
	got := do(t, c, "POST", s.URL()+"/chat/completions", `{"model":42,"stream":"yes"}`)
	require.Equal(t, http.StatusOK, got.status, got.body)
	assert.Equal(t, DefaultOpenAIModel, str(t, decode(t, got.body), "model"))
	got = do(t, c, "POST", s.URL()+"/messages", `[1,2]`)
	require.Equal(t, http.StatusOK, got.status, got.body)
	assert.Equal(t, DefaultAnthropicModel, str(t, decode(t, got.body), "model"))
}

func TestServer_RateLimitShare(t *testing.T) {
	t.Run("all", func(t *testing.T) {
		s := newServer(t, Options{RateLimitShare: 1})
		c := newClient(t, waitTimeout)
		for _, p := range []string{"/chat/completions", "/messages", "/responses"} {
			got := do(t, c, "POST", s.URL()+p, `{"stream":true}`)
			require.Equal(t, http.StatusTooManyRequests, got.status, p)
			assert.Empty(t, got.header.Get("Retry-After"))
			assert.Equal(t, "application/json", got.header.Get("Content-Type"))
			assert.Contains(t, strings.ToLower(got.body), "rate limit")
			assertErrorShape(t, got.body, p == "/messages", "rate_limit_error")
		}
		// Scripted steps are not rate-limited.
		s.Push(Step{Body: `{"ok":true}`})
		assert.Equal(t, http.StatusOK, do(t, c, "POST", s.URL()+"/chat/completions", `{}`).status)
	})
	t.Run("half", func(t *testing.T) {
		s := newServer(t, Options{RateLimitShare: 0.5, StreamChunks: 1})
		c := newClient(t, waitTimeout)
		limited := 0
		const n = 200
		for range n {
			if do(t, c, "POST", s.URL()+"/chat/completions", `{}`).status == http.StatusTooManyRequests {
				limited++
			}
		}
		// Random, but outside 50..150 of 200 has a probability below 1e-12.
		assert.Greater(t, limited, 50)
		assert.Less(t, limited, 150)
	})
	t.Run("none", func(t *testing.T) {
		s := newServer(t, Options{StreamChunks: 1})
		c := newClient(t, waitTimeout)
		for range 20 {
			require.Equal(t, http.StatusOK, do(t, c, "POST", s.URL()+"/chat/completions", `{}`).status)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		_, err := New(Options{RateLimitShare: 1.5})
		assert.Error(t, err)
	})
}

func TestServer_Keys(t *testing.T) {
	s := newServer(t, Options{Keys: []string{"sk-one", "sk-two"}, StreamChunks: 1, Record: true})
	c := newClient(t, waitTimeout)
	s.Push(Step{Body: `{"scripted":true}`})

	got := do(t, c, "POST", s.URL()+"/chat/completions", `{}`)
	require.Equal(t, http.StatusUnauthorized, got.status)
	assertErrorShape(t, got.body, false, "invalid_request_error")

	got = do(t, c, "POST", s.URL()+"/messages", `{}`, "x-api-key", "sk-wrong")
	require.Equal(t, http.StatusUnauthorized, got.status)
	assertErrorShape(t, got.body, true, "authentication_error")
	assert.NotContains(t, got.body, "sk-wrong", "never echo a key")
	assert.Equal(t, 1, s.Pending(), "a refused request consumes no step")

	got = do(t, c, "POST", s.URL()+"/messages", `{}`, "x-api-key", "sk-two")
	require.Equal(t, http.StatusOK, got.status)
	assert.JSONEq(t, `{"scripted":true}`, got.body)

	got = do(t, c, "POST", s.URL()+"/chat/completions", `{}`, "Authorization", "Bearer sk-one")
	require.Equal(t, http.StatusOK, got.status)

	// Both headers: the accepted one is reported.
	got = do(t, c, "POST", s.URL()+"/chat/completions", `{}`, "Authorization", "Bearer sk-one", "x-api-key", "client-key")
	require.Equal(t, http.StatusOK, got.status)

	var keys []string
	for _, r := range s.Requests() {
		keys = append(keys, r.Key)
	}
	assert.Equal(t, []string{"", "sk-wrong", "sk-two", "sk-one", "sk-one"}, keys)
	assert.Equal(t, 5, s.Count())
}
