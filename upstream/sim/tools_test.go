package sim

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

var testCalls = []ToolCall{
	{ID: "call_1", Name: "Read", Arguments: `{"file_path":"/tmp/a.go"}`},
	{ID: "call_2", Name: "Glob", Arguments: `{"pattern":"*.go"}`},
}

// dataOf returns the data line of one SSE event.
func dataOf(t *testing.T, ev string) string {
	t.Helper()
	for _, line := range strings.Split(ev, "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			return d
		}
	}
	t.Fatalf("no data in %q", ev)
	return ""
}

func TestOpenAIToolCallStream(t *testing.T) {
	ev := OpenAIToolCallStream("Reading.", testCalls, 10, 5)
	require.Equal(t, OpenAIDone, ev[len(ev)-1])
	args := map[int64]string{}
	ids := map[int64]string{}
	var finish, text string
	for _, e := range ev[:len(ev)-1] {
		d := dataOf(t, e)
		require.True(t, gjson.Valid(d), d)
		text += gjson.Get(d, "choices.0.delta.content").String()
		gjson.Get(d, "choices.0.delta.tool_calls").ForEach(func(_, c gjson.Result) bool {
			i := c.Get("index").Int()
			args[i] += c.Get("function.arguments").String()
			if id := c.Get("id").String(); id != "" {
				ids[i] = id
			}
			return true
		})
		if f := gjson.Get(d, "choices.0.finish_reason").String(); f != "" {
			finish = f
		}
	}
	require.Equal(t, "Reading.", text)
	require.Equal(t, map[int64]string{0: testCalls[0].Arguments, 1: testCalls[1].Arguments}, args)
	require.Equal(t, map[int64]string{0: "call_1", 1: "call_2"}, ids)
	require.Equal(t, "tool_calls", finish)
}

func TestOpenAIToolCallAnswer(t *testing.T) {
	a := OpenAIToolCallAnswer("", testCalls, 10, 5)
	require.True(t, gjson.Valid(a))
	require.Equal(t, gjson.Null, gjson.Get(a, "choices.0.message.content").Type)
	require.Equal(t, testCalls[1].Arguments, gjson.Get(a, "choices.0.message.tool_calls.1.function.arguments").String())
	require.Equal(t, "tool_calls", gjson.Get(a, "choices.0.finish_reason").String())
}

func TestAnthropicToolUseStream(t *testing.T) {
	ev := AnthropicToolUseStream("Reading.", testCalls, 10, 5)
	inputs := map[int64]string{}
	var names []string
	var stop string
	for _, e := range ev {
		d := dataOf(t, e)
		require.True(t, gjson.Valid(d), d)
		switch gjson.Get(d, "type").String() {
		case "content_block_start":
			if gjson.Get(d, "content_block.type").String() == "tool_use" {
				names = append(names, gjson.Get(d, "content_block.name").String())
			}
		case "content_block_delta":
			inputs[gjson.Get(d, "index").Int()] += gjson.Get(d, "delta.partial_json").String()
		case "message_delta":
			stop = gjson.Get(d, "delta.stop_reason").String()
		}
	}
	require.Equal(t, []string{"Read", "Glob"}, names)
	require.Equal(t, testCalls[0].Arguments, inputs[1])
	require.Equal(t, testCalls[1].Arguments, inputs[2])
	require.Equal(t, "tool_use", stop)
	require.True(t, strings.HasPrefix(ev[len(ev)-1], "event: message_stop\n"))
}

func TestAnthropicToolUseAnswer(t *testing.T) {
	a := AnthropicToolUseAnswer("Reading.", testCalls, 10, 5)
	require.True(t, gjson.Valid(a))
	require.Equal(t, "/tmp/a.go", gjson.Get(a, "content.1.input.file_path").String())
	require.Equal(t, "tool_use", gjson.Get(a, "stop_reason").String())
}
