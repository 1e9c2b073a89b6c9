package handlers

import (
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
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
	if !gjson.ValidBytes(body) {
		return info, false
	}
	// A view of the body, not a copy (a body may be 32 MiB of base64): the
	// body is not modified while the view is used, and what is kept is copied.
	root := gjson.Parse(unsafe.String(unsafe.SliceData(body), len(body)))
	if !root.IsObject() {
		return info, false
	}
	// One pass over the top-level members; nested values are skipped, not
	// decoded. A repeated member: the last one wins, as in encoding/json.
	root.ForEach(func(key, value gjson.Result) bool {
		switch key.Str {
		case "model":
			info.Model = ""
			if value.Type == gjson.String {
				info.Model = value.Str
			}
		case "stream":
			info.Stream = value.Type == gjson.True
		}
		return true
	})
	info.Model = cutModel(info.Model)
	return info, true
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
