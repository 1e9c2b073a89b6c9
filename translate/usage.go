package translate

import (
	"strings"

	"github.com/tidwall/gjson"
)

// TokenUsage reads the token counts of an OpenAI or Anthropic JSON answer
// or event: the top-level "usage" object, else the "usage" of a top-level
// "message" or "response" object (Anthropic's message_start, the Responses
// API's events). prompt_tokens or input_tokens is in, completion_tokens or
// output_tokens is out (as gjson's Int reads them); absent ones are 0. It
// does not validate obj. It steps over the members it does not want without
// decoding them, strings eight bytes at a time (stringEnd), where gjson's
// ForEach built a Result for each: the proxy reads every complete answer's
// usage for its records.
func TokenUsage(obj []byte) (in, out int) {
	s := view(obj)
	u, ue := -1, -1
	members(s, skipSpace(s, 0), func(k string, v, e int) bool {
		switch k {
		case "usage":
			u, ue = v, e
		case "message", "response":
			if u < 0 && s[v] == '{' {
				members(s, v, func(k string, v, e int) bool {
					if k == "usage" {
						u, ue = v, e
						return false
					}
					return true
				})
			}
		}
		return true
	})
	if u < 0 || s[u] != '{' {
		return 0, 0
	}
	members(s[:ue], u, func(k string, v, e int) bool {
		switch k {
		case "prompt_tokens", "input_tokens":
			in = int(gjson.Parse(s[v:e]).Int())
		case "completion_tokens", "output_tokens":
			out = int(gjson.Parse(s[v:e]).Int())
		}
		return true
	})
	return in, out
}

// members calls fn with each member of the object starting at s[i] (its key,
// decoded, and its value's span s[v:e]) until fn returns false or the
// object ends; it stops early at anything that is not well formed.
func members(s string, i int, fn func(k string, v, e int) bool) {
	if i >= len(s) || s[i] != '{' {
		return
	}
	i++
	for {
		i = skipSpace(s, i)
		if i >= len(s) || s[i] != '"' {
			return
		}
		ke := stringEnd(s, i)
		if ke < 0 {
			return
		}
		k := s[i+1 : ke-1]
		if strings.IndexByte(k, '\\') >= 0 {
			k = gjson.Parse(s[i:ke]).Str
		}
		i = skipSpace(s, ke)
		if i >= len(s) || s[i] != ':' {
			return
		}
		i = skipSpace(s, i+1)
		e := valueEnd(s, i)
		if e <= i {
			return
		}
		if !fn(k, i, e) {
			return
		}
		i = skipSpace(s, e)
		if i < len(s) && s[i] == ',' {
			i++
		}
	}
}
