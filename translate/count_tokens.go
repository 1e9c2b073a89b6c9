package translate

import (
	"github.com/tidwall/gjson"
)

// EstimateTokens estimates the input tokens of an Anthropic messages (or
// count_tokens) request for a target that cannot count them:
// ceil(UTF-8 bytes of all text in system, messages and tool definitions / 4).
// Text is every text, thinking and tool-result text, each tool call's name
// and input, and each tool's name, description and input schema. A body
// that is not a JSON object returns an *Error (400).
func EstimateTokens(body []byte) (int64, error) {
	root, ok := parse(body)
	if !ok || !root.IsObject() {
		return 0, invalid("body", "not a JSON object")
	}
	var n int64
	each(root, func(k, v gjson.Result) bool {
		switch k.Str {
		case "system":
			n += textBytes(v)
		case "messages":
			each(v, func(_, m gjson.Result) bool {
				n += textBytes(get(m, "content"))
				return true
			})
		case "tools":
			each(v, func(_, t gjson.Result) bool {
				n += int64(len(str(get(t, "name"))) + len(str(get(t, "description"))) + len(get(t, "input_schema").Raw))
				return true
			})
		}
		return true
	})
	return (n + 3) / 4, nil
}

// textBytes counts the UTF-8 bytes of the text in a content value (a string
// or blocks, tool results' content included).
func textBytes(v gjson.Result) int64 {
	if v.Type == gjson.String {
		return int64(len(str(v)))
	}
	var n int64
	each(v, func(_, b gjson.Result) bool {
		switch get(b, "type").Str {
		case "text":
			n += int64(len(str(get(b, "text"))))
		case "thinking":
			n += int64(len(str(get(b, "thinking"))))
		case "tool_use":
			n += int64(len(str(get(b, "name"))) + len(get(b, "input").Raw))
		case "tool_result":
			n += textBytes(get(b, "content"))
		}
		return true
	})
	return n
}

// CountTokens answers Anthropic's POST /v1/messages/count_tokens locally
// with the [EstimateTokens] rule: {"input_tokens":N}.
func CountTokens(body []byte) ([]byte, error) {
	n, err := EstimateTokens(body)
	if err != nil {
		return nil, err
	}
	b := append(make([]byte, 0, 32), `{"input_tokens":`...)
	b = appendInt(b, n)
	return append(b, '}'), nil
}

// WantsUsage reports whether an OpenAI request asked for the usage chunk at
// the end of its stream (stream_options.include_usage): the value for
// Options.IncludeUsage.
func WantsUsage(body []byte) bool {
	return gjson.GetBytes(body, "stream_options.include_usage").Type == gjson.True
}
