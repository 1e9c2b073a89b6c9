package translate

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDirection_Path(t *testing.T) {
	tests := []struct {
		d          Direction
		client     string
		want       string
		translated bool
	}{
		{OpenAIToAnthropic, "/v1/chat/completions", "/v1/messages", true},
		{AnthropicToOpenAI, "/v1/messages?beta=true", "/v1/chat/completions", true},
		{AnthropicToOpenAI, "/v1/messages/count_tokens", "", false},
		{OpenAIToAnthropic, "/v1/embeddings", "", false},
		{OpenAIToAnthropic, "/v1/messages", "", false},
		{None, "/v1/messages", "", false},
	}
	for _, tt := range tests {
		got, ok := tt.d.Path(tt.client)
		require.Equal(t, tt.want, got, "%v %s", tt.d, tt.client)
		require.Equal(t, tt.translated, ok)
	}
}

func TestDirection_Translators(t *testing.T) {
	o := Options{ID: "r", Created: 1}
	out, err := AnthropicToOpenAI.Request(nil, []byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`), o)
	require.NoError(t, err)
	require.JSONEq(t, `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`, string(out))
	out, err = OpenAIToAnthropic.Request(nil, []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`), o)
	require.NoError(t, err)
	require.JSONEq(t, `{"model":"m","max_tokens":8192,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`, string(out))

	out, err = OpenAIToAnthropic.Answer(nil, []byte(`{"id":"msg","model":"c","content":[{"type":"text","text":"yo"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2}}`), o)
	require.NoError(t, err)
	require.Contains(t, string(out), `"object":"chat.completion"`)
	out, err = AnthropicToOpenAI.Answer(nil, []byte(`{"id":"c","model":"g","choices":[{"message":{"content":"yo"},"finish_reason":"stop"}]}`), o)
	require.NoError(t, err)
	require.Contains(t, string(out), `"type":"message"`)

	require.Contains(t, string(OpenAIToAnthropic.Error(529, []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))), `"error":{"message":"Overloaded"`)
	require.Contains(t, string(AnthropicToOpenAI.Error(429, []byte(`{"error":{"message":"slow"}}`))), `"rate_limit_error"`)

	require.IsType(t, &AnthropicToOpenAIStream{}, OpenAIToAnthropic.Stream(o))
	require.IsType(t, &OpenAIToAnthropicStream{}, AnthropicToOpenAI.Stream(o))
	require.Equal(t, "anthropic→openai", AnthropicToOpenAI.String())
}
