package translate

import (
	"math/bits"
	"strings"
)

// validTape checks that s is one JSON value and builds its tape (see
// buildTape) in the same pass. It accepts exactly what gjson.Valid accepts
// (RFC 8259 JSON, strings not checked for UTF-8), in about a third of its
// time on a 50 KB Claude Code request: gjson checks a string byte by byte,
// here eight bytes at a time (validString). The tape is nil for a scalar;
// it comes from the pool (releaseTape) when ok.
func validTape(s string) (tape []int, ok bool) {
	tb := tapePool.Get().(*tapeBuf)
	t, ok := validTapeTo(s, tb.tape[:0])
	if !ok || t == nil {
		tapePool.Put(tb)
		return nil, ok
	}
	return t, true
}

// validTapeTo is validTape building the tape in t (nil for a scalar).
func validTapeTo(s string, t []int) (tape []int, ok bool) {
	var stackBuf [64]int // tape offset of each open container
	stack := stackBuf[:0]
	const (
		wantValue  = iota // a value, after whitespace
		wantKey           // a member's key, after whitespace
		afterValue        // a comma, a close or (at the top) the end
	)
	state := wantValue
	i := 0
	for {
		i = skipSpace(s, i)
		switch state {
		case wantKey:
			if i >= len(s) || s[i] != '"' {
				return nil, false
			}
			if i = validString(s, i+1); i < 0 {
				return nil, false
			}
			if i = skipSpace(s, i); i >= len(s) || s[i] != ':' {
				return nil, false
			}
			i++
			state = wantValue
		case wantValue:
			if i >= len(s) {
				return nil, false
			}
			state = afterValue
			switch s[i] {
			case '{', '[':
				stack = append(stack, len(t))
				t = append(t, i, -1)
				end := byte('}')
				if s[i] == '[' {
					end = ']'
					state = wantValue
				} else {
					state = wantKey
				}
				if i = skipSpace(s, i+1); i < len(s) && s[i] == end {
					k := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					i++
					t[k+1] = i
					state = afterValue
				}
			case '"':
				i = validString(s, i+1)
			case 't':
				i = literal(s, i, "true")
			case 'f':
				i = literal(s, i, "false")
			case 'n':
				i = literal(s, i, "null")
			default:
				i = numberEnd(s, i)
			}
			if i < 0 {
				return nil, false
			}
		case afterValue:
			if len(stack) == 0 {
				if i != len(s) {
					return nil, false
				}
				if len(t) == 0 {
					return nil, true
				}
				return t, true
			}
			if i >= len(s) {
				return nil, false
			}
			k := stack[len(stack)-1]
			obj := s[t[k]] == '{'
			switch s[i] {
			case ',':
				i++
				if obj {
					state = wantKey
				} else {
					state = wantValue
				}
			case '}', ']':
				if (s[i] == '}') != obj {
					return nil, false
				}
				stack = stack[:len(stack)-1]
				i++
				t[k+1] = i
			default:
				return nil, false
			}
		}
	}
}

// literal returns the index past word at s[i:], or -1.
func literal(s string, i int, word string) int {
	if strings.HasPrefix(s[i:], word) {
		return i + len(word)
	}
	return -1
}

// numberEnd returns the index past the number at s[i:] (RFC 8259: -?
// (0|[1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?), or -1.
func numberEnd(s string, i int) int {
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i >= len(s) || s[i] < '0' || s[i] > '9' {
		return -1
	}
	if s[i] == '0' {
		i++
	} else {
		i = digits(s, i)
	}
	if i < len(s) && s[i] == '.' {
		if i+1 >= len(s) || s[i+1] < '0' || s[i+1] > '9' {
			return -1
		}
		i = digits(s, i+1)
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return -1
		}
		i = digits(s, i)
	}
	return i
}

func digits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// validString returns the index past the closing quote of the string
// whose text starts at s[i] (after the opening quote), or -1 when it does
// not end or holds a control character or a bad escape. Eight bytes at a
// time: each of '"', '\\' and bytes below 0x20 sets the high bit of its
// byte in a word (the lowest flag is exact; flags above it may be false,
// and are never looked at).
func validString(s string, i int) int {
	for {
		// Two words per round: their flags are independent work.
		for i+16 <= len(s) {
			f1, f2 := specials(word(s, i)), specials(word(s, i+8))
			if f1 != 0 {
				i += bits.TrailingZeros64(f1) / 8
				goto found
			}
			if f2 != 0 {
				i += 8 + bits.TrailingZeros64(f2)/8
				goto found
			}
			i += 16
		}
		for i+8 <= len(s) {
			if f := specials(word(s, i)); f != 0 {
				i += bits.TrailingZeros64(f) / 8
				break
			}
			i += 8
		}
	found:
		if i >= len(s) {
			return -1
		}
		switch c := s[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			if i+1 >= len(s) {
				return -1
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s) || !isHex(s[i+2]) || !isHex(s[i+3]) || !isHex(s[i+4]) || !isHex(s[i+5]) {
					return -1
				}
				i += 6
			default:
				return -1
			}
		case c < 0x20:
			return -1
		default:
			i++ // the tail, fewer than 8 bytes
		}
	}
}

// word is the 8 bytes at s[i:] as a little-endian integer (one load).
func word(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// specials flags (high bit of the byte) the '"', '\\' and control bytes of w.
func specials(w uint64) uint64 {
	q := w ^ (ones * '"')
	b := w ^ (ones * '\\')
	return (((q - ones) &^ q) | ((b - ones) &^ b) | ((w - ones*0x20) &^ w)) & highs
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
