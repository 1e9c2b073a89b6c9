package translate

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

func TestEstimateTokens(t *testing.T) {
	tests := []struct {
		name string
		body string
		want int64
	}{
		{"string system and message", `{"system":"abcd","messages":[{"role":"user","content":"efgh"}]}`, 2},
		{"rounds up", `{"messages":[{"role":"user","content":"abcde"}]}`, 2},
		{"utf-8 bytes, escapes decoded", `{"messages":[{"role":"user","content":"é\n"}]}`, 1}, // 3 bytes
		{"blocks, tool use and results", `{"system":[{"type":"text","text":"1234"}],"messages":[
			{"role":"assistant","content":[{"type":"thinking","thinking":"1234"},{"type":"tool_use","id":"x","name":"ab","input":{"a":1}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"x","content":[{"type":"text","text":"12345678"}]},{"type":"image","source":{}}]}]}`, 7}, // 4+4+2+7+8 = 25
		{"tools", `{"messages":[],"tools":[{"name":"ab","description":"cd","input_schema":{"type":"object"}}]}`, 6}, // 2+2+17 = 21
		{"empty", `{}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EstimateTokens([]byte(tt.body))
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestCountTokens(t *testing.T) {
	got, err := CountTokens([]byte(`{"model":"m","messages":[{"role":"user","content":"12345678"}]}`))
	require.NoError(t, err)
	require.Equal(t, `{"input_tokens":2}`, string(got))
	_, err = CountTokens([]byte(`[1]`))
	require.Error(t, err)
}

func TestWantsUsage(t *testing.T) {
	require.True(t, WantsUsage([]byte(`{"stream":true,"stream_options":{"include_usage":true}}`)))
	require.False(t, WantsUsage([]byte(`{"stream":true}`)))
	require.False(t, WantsUsage([]byte(`{"stream_options":{"include_usage":false}}`)))
}

func TestTextLen(t *testing.T) {
	for _, s := range []string{`"plain"`, `"a\nb\"c\\d\/e"`, `"\u00e9\u4e2d"`, `"\ud83d\ude00!"`, `"\ud800x"`, `"é中✓"`, `""`} {
		require.Equal(t, len(gjson.Parse(s).Str), textLen(gjson.Parse(s)), s)
	}
}
