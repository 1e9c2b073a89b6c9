package stats

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// appendJSON appends e encoded exactly as encoding/json encodes it (the
// same bytes as json.Marshal(e)), without reflection and without
// allocating. The store encodes one event per request, so this runs once per
// request; eventjson_test.go checks it against encoding/json, field by field
// and by fuzzing, so a field added to Event without being added here fails
// the tests. Values encoding/json refuses (NaN, ±Inf, years outside
// 0..9999) take the encoding/json path and its error.
func (e *Event) appendJSON(b []byte) ([]byte, error) {
	if !jsonSafe(e) {
		data, err := json.Marshal(e)
		return append(b, data...), err
	}
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, e.ID, 10)
	if e.Replica != "" {
		b = append(b, `,"replica":`...)
		b = appendJSONString(b, e.Replica)
	}
	b = append(b, `,"time":"`...)
	b = AppendRFC3339(b, e.Time, false) // jsonSafe: a year AppendFormat can write
	b = append(b, `","method":`...)
	b = appendJSONString(b, e.Method)
	b = append(b, `,"route":`...)
	b = appendJSONString(b, e.Route)
	b = append(b, `,"family":`...)
	b = appendJSONString(b, string(e.Family))
	b = append(b, `,"model":`...)
	b = appendJSONString(b, e.Model)
	if e.ServedModel != "" {
		b = append(b, `,"served_model":`...)
		b = appendJSONString(b, e.ServedModel)
	}
	if e.Fallbacks != 0 {
		b = append(b, `,"fallbacks":`...)
		b = strconv.AppendInt(b, int64(e.Fallbacks), 10)
	}
	b = append(b, `,"stream":`...)
	b = strconv.AppendBool(b, e.Stream)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"outcome":`...)
	b = appendJSONString(b, string(e.Outcome))
	b = append(b, `,"target":`...)
	b = appendJSONString(b, e.Target)
	b = append(b, `,"attempts":[`...)
	for i := range e.Attempts {
		a := &e.Attempts[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"target":`...)
		b = appendJSONString(b, a.Target)
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(a.Status), 10)
		b = append(b, `,"reason":`...)
		b = appendJSONString(b, a.Reason)
		if a.Cause != "" {
			b = append(b, `,"cause":`...)
			b = appendJSONString(b, a.Cause)
		}
		b = append(b, `,"duration_ms":`...)
		b = appendJSONFloat(b, a.DurationMs)
		if a.Model != "" {
			b = append(b, `,"model":`...)
			b = appendJSONString(b, a.Model)
		}
		if a.Translated {
			b = append(b, `,"translated":true`...)
		}
		if a.Translation != "" {
			b = append(b, `,"translation":`...)
			b = appendJSONString(b, a.Translation)
		}
		b = append(b, '}')
	}
	b = append(b, `],"rate_limits":`...)
	b = strconv.AppendInt(b, int64(e.RateLimits), 10)
	b = append(b, `,"latency_ms":`...)
	b = appendJSONFloat(b, e.LatencyMs)
	b = append(b, `,"ttfb_ms":`...)
	b = appendJSONFloat(b, e.TTFBMs)
	b = append(b, `,"input_tokens":`...)
	b = strconv.AppendInt(b, int64(e.InputTokens), 10)
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, int64(e.OutputTokens), 10)
	b = append(b, `,"terminal":`...)
	b = strconv.AppendBool(b, e.Terminal)
	if e.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, e.Error)
	}
	if e.Estimated {
		b = append(b, `,"estimated":true`...)
	}
	return append(b, '}'), nil
}

// AppendJSON appends e's JSON (the bytes MarshalJSON gives) to b, without
// reflection: for stores that encode one event per request.
func (e *Event) AppendJSON(b []byte) ([]byte, error) { return e.appendJSON(b) }

// jsonSafe reports whether encoding/json encodes every value of e (no NaN
// or infinite float, a time RFC 3339 can write).
func jsonSafe(e *Event) bool {
	finite := func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
	if !finite(e.LatencyMs) || !finite(e.TTFBMs) {
		return false
	}
	for i := range e.Attempts {
		if !finite(e.Attempts[i].DurationMs) {
			return false
		}
	}
	if y := e.Time.Year(); y < 0 || y > 9999 {
		return false
	}
	_, off := e.Time.Zone()
	return off > -24*3600 && off < 24*3600
}

// appendJSONFloat is encoding/json's float64 format (ES6 number style).
func appendJSONFloat(b []byte, f float64) []byte {
	if f == 0 || f >= 1e-6 && f < 1e6 {
		return AppendMillis(b, f, 'f') // 'f' in this range, as below
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // e-09 -> e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendJSONString is encoding/json's string encoding with HTML escaping
// (its default): <, > and & as \u003c…, invalid UTF-8 as \ufffd, U+2028
// and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
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
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
