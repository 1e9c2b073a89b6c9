package handlers

import (
	"unicode/utf8"

	"github.com/llm-proxy/llm-proxy/translate"
)

// maxModelLen bounds the model name kept in records and logs.
const maxModelLen = 128

// BodyInfo is what the proxy reads from a request body.
type BodyInfo struct {
	Model  string // the "model" field, cut to 128 bytes of valid UTF-8; "" when absent
	Stream bool   // the "stream" field is true
}

// PeekBody validates a JSON request body and reads its top-level "model" and
// "stream" fields without decoding the rest. ok is false when body is not a
// single valid JSON object.
func PeekBody(body []byte) (info BodyInfo, ok bool) {
	model, stream, ok := translate.Peek(body)
	if !ok {
		return info, false
	}
	return BodyInfo{Model: cutModel(model), Stream: stream}, true
}

// cutModel keeps at most maxModelLen bytes without splitting a rune, and
// copies, so the result never aliases the request body.
func cutModel(s string) string {
	if len(s) > maxModelLen {
		s = s[:maxModelLen]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return string([]byte(s))
}
