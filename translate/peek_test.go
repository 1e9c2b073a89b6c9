package translate

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/tidwall/gjson"
)

// peekGJSON is what the proxy did before Peek (gjson's validator, then
// ForEach over the top level): the reference Peek must agree with.
func peekGJSON(body []byte) (model string, stream, ok bool) {
	if !gjson.ValidBytes(body) {
		return "", false, false
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return "", false, false
	}
	root.ForEach(func(key, value gjson.Result) bool {
		switch key.Str {
		case "model":
			model = ""
			if value.Type == gjson.String {
				model = value.Str
			}
		case "stream":
			stream = value.Type == gjson.True
		}
		return true
	})
	return model, stream, true
}

var peekSeeds = []string{
	`{"model":"m","stream":true}`, `{"model":"\u00e9"}`, `[]`, `{"a":{"model":"x"}}`,
	`{"stream":true,"stream":false}`, `"x"`, `{`, `{"model":1}`, `{"model":"a","model":"b"}`,
	`{"model":null,"stream":"true"}`, `  {"messages":[{"model":"no"}],"model":"yes"}  `,
	// escaped keys and values longer than stringResult decodes
	`{"\u0073\u0074\u0072\u0065\u0061\u006d":true,"\u006d\u006f\u0064\u0065\u006c":"` + strings.Repeat(`\u0041`, 20) + `"}`,
	`{"model":"gpt-4o","stream":true,"x":[1,2,{"y":"}"}]}`, `{"model":"a"}x`, `{"model":"a",}`,
}

func TestPeek_AgreesWithGJSON(t *testing.T) {
	for _, s := range peekSeeds {
		m, st, ok := Peek([]byte(s))
		wm, wst, wok := peekGJSON([]byte(s))
		assert.Equal(t, [3]any{wm, wst, wok}, [3]any{m, st, ok}, s)
	}
	m, st, ok := Peek([]byte(peekSeeds[11]))
	assert.Equal(t, [3]any{strings.Repeat("A", 20), true, true}, [3]any{m, st, ok}, "escaped key and long escaped value decoded")
}

// FuzzPeek: Peek and the gjson reference agree on every input.
func FuzzPeek(f *testing.F) {
	for _, s := range peekSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, st, ok := Peek(body)
		wm, wst, wok := peekGJSON(body)
		if m != wm || st != wst || ok != wok {
			t.Fatalf("Peek(%q) = %q %v %v, gjson reference %q %v %v", body, m, st, ok, wm, wst, wok)
		}
	})
}

func BenchmarkPeek(b *testing.B) {
	body := []byte(`{"model":"gpt-4o-mini","stream":false,"max_tokens":64,"temperature":0.7,"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Write one short sentence about benchmarking HTTP proxies on a small machine."}]}`)
	b.Run("peek", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Peek(body)
		}
	})
	b.Run("gjson", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			peekGJSON(body)
		}
	})
}

func BenchmarkPeekLarge(b *testing.B) {
	body := []byte(`{"model":"claude-sonnet-4","messages":[` + strings.Repeat(`{"role":"user","content":[{"type":"text","text":"`+strings.Repeat("Tell me a story about a proxy. ", 30)+`"}]},`, 60) + `{"role":"user","content":"go"}],"stream":true}`)
	b.SetBytes(int64(len(body)))
	b.Run("peek", func(b *testing.B) {
		for b.Loop() {
			Peek(body)
		}
	})
	b.Run("gjson", func(b *testing.B) {
		for b.Loop() {
			peekGJSON(body)
		}
	})
}

// TestPeek_PooledTapeNotKeptPastReturn: the tape goes back to the pool when
// Peek returns, so what it returns must not depend on it; interleaved peeks
// of different bodies (one invalid, which must not drop the pooled buffer)
// each read their own body.
func TestPeek_PooledTapeNotKeptPastReturn(t *testing.T) {
	a := []byte(`{"messages":[{"a":[1,2,3]},{"b":{}}],"model":"first","stream":true}`)
	b := []byte(`{"x":{"y":{"z":[[[]]]}},"model":"second"}`)
	for range 50 {
		m, st, ok := Peek(a)
		assert.Equal(t, [3]any{"first", true, true}, [3]any{m, st, ok})
		_, _, ok = Peek([]byte(`{"model":`))
		assert.False(t, ok)
		m, st, ok = Peek(b)
		assert.Equal(t, [3]any{"second", false, true}, [3]any{m, st, ok})
	}
	allocs := testing.AllocsPerRun(100, func() { Peek(a) })
	assert.Zero(t, allocs)
}
