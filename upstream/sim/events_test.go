package sim

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenAIError(t *testing.T) {
	assert.JSONEq(t, `{"error":{"message":"m \"q\"","type":"t","param":null,"code":null}}`,
		OpenAIError("t", `m "q"`))
}

func TestAnthropicError(t *testing.T) {
	assert.JSONEq(t, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
		AnthropicError("overloaded_error", "Overloaded"))
}

func TestOpenAIErrorEvent(t *testing.T) {
	ev := OpenAIErrorEvent("rate_limit_error", "Rate limit reached")
	require.True(t, strings.HasPrefix(ev, "data: ") && strings.HasSuffix(ev, "\n\n"), ev)
	assert.JSONEq(t, `{"error":{"message":"Rate limit reached","type":"rate_limit_error","param":null,"code":null}}`,
		strings.TrimSuffix(strings.TrimPrefix(ev, "data: "), "\n\n"))
}

func TestAnthropicErrorEvent(t *testing.T) {
	evs := parseSSE(t, AnthropicErrorEvent("overloaded_error", "Overloaded"))
	require.Len(t, evs, 1)
	assert.Equal(t, "error", evs[0].name)
	assert.JSONEq(t, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, evs[0].data)
}

func TestOpenAIChunk(t *testing.T) {
	evs := parseSSE(t, OpenAIChunk("héllo \"x\"\n"))
	require.Len(t, evs, 1)
	m := decode(t, evs[0].data)
	assert.Equal(t, "chat.completion.chunk", str(t, m, "object"))
	assert.Equal(t, "héllo \"x\"\n", str(t, m, "choices", 0, "delta", "content"))
	assert.Nil(t, path(t, m, "choices", 0, "finish_reason"))
}

func TestOpenAIUsageChunk(t *testing.T) {
	m := decode(t, parseSSE(t, OpenAIUsageChunk(3, 4))[0].data)
	assert.Empty(t, path(t, m, "choices"))
	assert.Equal(t, 3, num(t, m, "usage", "prompt_tokens"))
	assert.Equal(t, 4, num(t, m, "usage", "completion_tokens"))
	assert.Equal(t, 7, num(t, m, "usage", "total_tokens"))
}

func TestOpenAIStream(t *testing.T) {
	evs := OpenAIStream([]string{"a", "b"}, 5, 2)
	require.Len(t, evs, 6)
	assert.Equal(t, OpenAIDone, evs[5])
	parsed := parseSSE(t, strings.Join(evs, ""))
	assert.Equal(t, "b", str(t, decode(t, parsed[2].data), "choices", 0, "delta", "content"))
	assert.Equal(t, 5, num(t, decode(t, parsed[4].data), "usage", "prompt_tokens"))
}

func TestAnthropicStream(t *testing.T) {
	evs := AnthropicStream([]string{"x"}, 9, 1)
	require.Len(t, evs, 7)
	parsed := parseSSE(t, strings.Join(evs, ""))
	assert.Equal(t, "message_start", parsed[0].name)
	assert.Equal(t, 9, num(t, decode(t, parsed[0].data), "message", "usage", "input_tokens"))
	assert.Equal(t, "message_stop", parsed[6].name)
	for _, ev := range evs {
		assert.Equal(t, 1, strings.Count(ev, "\n\n"), "one event per element: %q", ev)
	}
}

func TestResponsesStream(t *testing.T) {
	evs := ResponsesStream([]string{"x", "y"}, 3, 2)
	require.Len(t, evs, 10)
	parsed := parseSSE(t, strings.Join(evs, ""))
	assert.Equal(t, "response.completed", parsed[9].name)
	assert.Equal(t, "xy", str(t, decode(t, parsed[9].data), "response", "output", 0, "content", 0, "text"))
}

func TestSimulatedText(t *testing.T) {
	assert.Empty(t, SimulatedText(0))
	got := SimulatedText(3)
	assert.Equal(t, []string{"This ", "is ", "a"}, got)
	assert.Len(t, SimulatedText(100), 100)
}

func TestEstimateTokens(t *testing.T) {
	assert.Equal(t, 1, EstimateTokens(nil))
	assert.Equal(t, 1, EstimateTokens([]byte("abc")))
	assert.Equal(t, 25, EstimateTokens(make([]byte, 100)))
}
