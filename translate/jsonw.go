package translate

import (
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
)

// Output is written by appending to a []byte: values that pass through
// (schemas, texts, ids, numbers) are copied as their raw JSON tokens from the
// validated input, so nothing is decoded and re-encoded. Hand-written because
// sjson rewrites a document key by key (one copy of the whole body per key),
// and encoding/json would need a decode of the whole body into structs.

// view returns b as a string without copying; the result must not outlive b
// nor be kept after the call that made it.
func view(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// parse validates b and returns its root, or ok=false when b is not one valid
// JSON value. The root aliases b.
func parse(b []byte) (gjson.Result, bool) {
	if !gjson.ValidBytes(b) {
		return gjson.Result{}, false
	}
	return gjson.Parse(view(b)), true
}

// parseRequest validates b (unless o.Checked) and returns its root with a
// tape (scan.go), or ok=false. Validation builds the tape in the same pass
// (validTape); a checked body only gets its tape built.
func parseRequest(b []byte, o *Options) (gjson.Result, bool) {
	s := view(b)
	var t []int
	if !o.Checked {
		var ok bool
		if t, ok = validTape(s); !ok {
			return gjson.Result{}, false
		}
	}
	r := root(s, t)
	return r, r.Exists()
}

// comma appends ',' unless b ends an opening bracket or a key (the first
// member of an object or array needs none).
func comma(b []byte) []byte {
	if n := len(b); n > 0 {
		switch b[n-1] {
		case '{', '[', ':':
			return b
		}
		return append(b, ',')
	}
	return b
}

// key appends `,"k":` (comma as needed); k must need no escaping.
func key(b []byte, k string) []byte {
	b = comma(b)
	b = append(b, '"')
	b = append(b, k...)
	return append(b, '"', ':')
}

// raw appends a raw JSON token after a key or as an array element.
func raw(b []byte, r string) []byte {
	return append(comma(b), r...)
}

// appendString appends s as a JSON string (escaped like encoding/json,
// without HTML escaping); invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendStringBody(b, s)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendStringBody appends the escaped content of s, without the quotes.
func appendStringBody(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// strBody returns the escaped content of a JSON string token (its raw form
// without the quotes), for joining strings without decoding them.
func strBody(r gjson.Result) string {
	if r.Type != gjson.String || len(r.Raw) < 2 {
		return ""
	}
	return r.Raw[1 : len(r.Raw)-1]
}

// appendInt appends n in decimal.
func appendInt(b []byte, n int64) []byte {
	return strconv.AppendInt(b, n, 10)
}

func itoa(n int) string { return strconv.Itoa(n) }
