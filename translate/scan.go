package translate

import (
	"math/bits"
	"strconv"
	"strings"
	"sync"

	"github.com/tidwall/gjson"
)

// each and get walk a validated JSON value like gjson's ForEach and Get, but
// never decode a long string: gjson unescapes every string value it visits
// (a copy of each system prompt, tool description and file content), which
// made a 50 KB Claude Code request cost ~5× the budget. Here a string's Str
// is a substring of the input when it has no escape, the unescaped text
// when it is short, and empty otherwise (then use [str]); containers are
// skipped with strings.IndexByte over their strings. Only for input that
// gjson.Valid accepted: on anything else they stop early but never panic.

// longString is the length above which an escaped string is not decoded.
const longString = 32

// each calls fn with each member of an object (key, value) or each element
// of an array (zero key, value), in order, until fn returns false.
func each(r gjson.Result, fn func(k, v gjson.Result) bool) {
	s := r.Raw
	if r.Type != gjson.JSON || len(s) < 2 {
		return
	}
	obj := s[0] == '{'
	i := 1
	for {
		i = skipSpace(s, i)
		if i >= len(s) || s[i] == '}' || s[i] == ']' {
			return
		}
		var k gjson.Result
		if obj {
			if s[i] != '"' {
				return
			}
			e := stringEnd(s, i)
			if e < 0 {
				return
			}
			k = stringResult(s[i:e])
			i = skipSpace(s, e)
			if i >= len(s) || s[i] != ':' {
				return
			}
			i = skipSpace(s, i+1)
		}
		e := -1
		if r.Indexes != nil && (s[i] == '{' || s[i] == '[') {
			e = tapeEnd(r.Indexes, r.Index+i) - r.Index
		} else {
			e = valueEnd(s, i)
		}
		if e <= i || e > len(s) {
			return
		}
		v := result(s[i:e])
		v.Index, v.Indexes = r.Index+i, r.Indexes
		if !fn(k, v) {
			return
		}
		i = skipSpace(s, e)
		if i < len(s) && s[i] == ',' {
			i++
		}
	}
}

// get returns the member k of an object (the zero Result when absent).
func get(r gjson.Result, k string) gjson.Result {
	var v gjson.Result
	each(r, func(key, val gjson.Result) bool {
		if key.Str == k {
			v = val
			return false
		}
		return true
	})
	return v
}

// first returns the first element of an array.
func first(r gjson.Result) gjson.Result {
	var v gjson.Result
	if r.IsArray() {
		each(r, func(_, val gjson.Result) bool {
			v = val
			return false
		})
	}
	return v
}

// str returns a string value's text, decoding it when each left Str empty.
func str(r gjson.Result) string {
	if r.Type == gjson.String && r.Str == "" && len(r.Raw) > 2 {
		return gjson.Parse(r.Raw).Str
	}
	return r.Str
}

func skipSpace(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index past the string starting at s[i] ('"'), or -1.
// The first 32 bytes are scanned eight at a time (most strings are short
// keys and values, for which a call to IndexByte costs more than the scan),
// the rest with IndexByte.
func stringEnd(s string, i int) int {
	j := i + 1
	for end := min(j+32, len(s)); j < end; {
		if j+8 <= len(s) {
			f := quoteOrBackslash(word(s, j))
			if f == 0 {
				j += 8
				continue
			}
			j += bits.TrailingZeros64(f) / 8 // the lowest flag is exact
		} else if c := s[j]; c != '"' && c != '\\' {
			j++
			continue
		}
		if s[j] == '"' {
			return j + 1
		}
		j += 2 // a backslash and the byte it escapes
	}
	for j < len(s) {
		k := strings.IndexByte(s[j:], '"')
		if k < 0 {
			return -1
		}
		q := j + k
		n := 0
		for p := q - 1; p > i && s[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
	return -1
}

// quoteOrBackslash flags (high bit of the byte) the '"' and '\\' bytes of w;
// as in specials, the lowest flag is exact.
func quoteOrBackslash(w uint64) uint64 {
	q := w ^ (ones * '"')
	b := w ^ (ones * '\\')
	return (((q - ones) &^ q) | ((b - ones) &^ b)) & highs
}

// valueEnd returns the index past the value starting at s[i], or -1.
func valueEnd(s string, i int) int {
	if i >= len(s) {
		return -1
	}
	switch s[i] {
	case '"':
		return stringEnd(s, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '"':
				e := stringEnd(s, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(s) {
		switch s[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
		j++
	}
	return j
}

// A tape lists where each container of a request body starts and ends
// (pairs of offsets, by start): built in one pass, it lets each find the end
// of a nested object or array without scanning it again at every level (a
// Claude Code message's text was scanned five times, once per level).
// It travels in the Results each makes: Index is the value's offset in the
// body, Indexes the tape (nil: scan instead). gjson sets Indexes only for
// "#(…)#" queries, which this package does not use.

// buildTape returns the tape of s, or nil when s is not well nested.
func buildTape(s string) []int {
	// The tape is the caller's until releaseTape; the stack is only ours.
	t := tapePool.Get().(*tapeBuf).tape[:0]
	var stackBuf [64]int
	stack := stackBuf[:0]
	for j := 0; j < len(s); j++ {
		switch s[j] {
		case '"':
			e := stringEnd(s, j)
			if e < 0 {
				return nil
			}
			j = e - 1
		case '{', '[':
			stack = append(stack, len(t))
			t = append(t, j, -1)
		case '}', ']':
			if len(stack) == 0 {
				return nil
			}
			k := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			t[k+1] = j + 1
		}
	}
	if len(stack) != 0 {
		return nil
	}
	return t
}

// tapeBuf is a pooled tape's storage: a request's tape goes back to the
// pool when its translator returns ([releaseTape]).
type tapeBuf struct{ tape []int }

var tapePool = sync.Pool{New: func() any { return &tapeBuf{tape: make([]int, 0, 1024)} }}

// releaseTape returns the tape of a root made by [root] to the pool; the
// Results of that body must not be used after it.
func releaseTape(r gjson.Result) {
	if r.Indexes != nil {
		tapePool.Put(&tapeBuf{tape: r.Indexes[:0]})
	}
}

// tapeEnd returns the end offset of the container starting at p, or -1.
func tapeEnd(t []int, p int) int {
	lo, hi := 0, len(t)/2
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t[2*m] < p {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(t)/2 && t[2*lo] == p {
		return t[2*lo+1]
	}
	return -1
}

// root returns the top-level value of a request body with its tape: t
// when not nil (validTape's), else one built here.
func root(s string, t []int) gjson.Result {
	i := skipSpace(s, 0)
	if i >= len(s) {
		return gjson.Result{}
	}
	if s[i] == '{' || s[i] == '[' {
		if t == nil {
			t = buildTape(s)
		}
		if t == nil {
			return gjson.Result{}
		}
		e := tapeEnd(t, i)
		if e <= i {
			return gjson.Result{}
		}
		r := result(s[i:e])
		r.Index, r.Indexes = i, t
		return r
	}
	e := valueEnd(s, i)
	if e <= i {
		return gjson.Result{}
	}
	return result(s[i:e])
}

// stringResult is the Result for a string token.
func stringResult(raw string) gjson.Result {
	r := gjson.Result{Type: gjson.String, Raw: raw}
	body := raw[1 : len(raw)-1]
	switch {
	case strings.IndexByte(body, '\\') < 0:
		r.Str = body
	case len(raw) <= longString:
		r.Str = gjson.Parse(raw).Str
	}
	return r
}

// result is the Result for one raw value.
func result(raw string) gjson.Result {
	switch raw[0] {
	case '"':
		return stringResult(raw)
	case '{', '[':
		return gjson.Result{Type: gjson.JSON, Raw: raw}
	case 't':
		return gjson.Result{Type: gjson.True, Raw: raw}
	case 'f':
		return gjson.Result{Type: gjson.False, Raw: raw}
	case 'n':
		return gjson.Result{Type: gjson.Null, Raw: raw}
	}
	n, _ := strconv.ParseFloat(raw, 64)
	return gjson.Result{Type: gjson.Number, Raw: raw, Num: n}
}
