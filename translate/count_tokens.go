package translate

import (
	"github.com/tidwall/gjson"
	"strconv"
	"strings"
	"unicode/utf8"
)

// EstimateTokens estimates the input tokens of an Anthropic messages (or
// count_tokens) request for a target that cannot count them:
// ceil(UTF-8 bytes of all text in system, messages and tool definitions / 4).
// Text is every text, thinking and tool-result text, each tool call's name
// and input, and each tool's name, description and input schema. A body
// that is not a JSON object returns an *Error (400).
func EstimateTokens(body []byte) (int64, error) {
	root, ok := parseRequest(body, &Options{})
	if !ok || !root.IsObject() {
		return 0, invalid("body", "not a JSON object")
	}
	defer releaseTape(root)
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
				n += int64(textLen(get(t, "name")) + textLen(get(t, "description")) + len(get(t, "input_schema").Raw))
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
		return int64(textLen(v))
	}
	var n int64
	each(v, func(_, b gjson.Result) bool {
		switch get(b, "type").Str {
		case "text":
			n += int64(textLen(get(b, "text")))
		case "thinking":
			n += int64(textLen(get(b, "thinking")))
		case "tool_use":
			n += int64(textLen(get(b, "name")) + len(get(b, "input").Raw))
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

// textLen is the UTF-8 length of a string value's text, computed from its
// escaped form without decoding it (0 for a non-string).
func textLen(r gjson.Result) int {
	if r.Type != gjson.String {
		return 0
	}
	s := strBody(r)
	n := 0
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '\\')
		if j < 0 {
			return n + len(s) - i
		}
		n += j
		i += j
		if i+1 >= len(s) {
			return n
		}
		if s[i+1] != 'u' || i+6 > len(s) {
			n++ // \n, \", \\ …: one byte
			i += 2
			continue
		}
		c, err := strconv.ParseUint(s[i+2:i+6], 16, 32)
		i += 6
		switch {
		case err != nil:
			n++
		case c >= 0xD800 && c < 0xDC00 && i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u':
			n += 4 // a surrogate pair: one code point above U+FFFF
			i += 6
		default:
			n += utf8.RuneLen(rune(c))
			if c >= 0xD800 && c < 0xE000 {
				n += 3 - utf8.RuneLen(rune(c)) // a lone surrogate decodes to U+FFFD
			}
		}
	}
	return n
}
