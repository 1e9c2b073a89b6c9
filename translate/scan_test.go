package translate

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

func TestEach_MatchesGjson(t *testing.T) {
	long := strings.Repeat(`x\"\\`, 100)
	docs := []string{
		`{"a":1,"b":"two","c":[1,{"d":"}]"}],"e":{"f":null},"g":true,"h":false,"i":-1.5e3}`,
		` { "a" : "q\"uote" , "b\\" : [ ] , "c" : { } } `,
		`[1,"2",[3],{"4":4}]`,
		`{"long":"` + long + `","after":1}`,
		`{"k\u0041":"v\\\\"}`,
	}
	for _, doc := range docs {
		var want, got []string
		gjson.Parse(doc).ForEach(func(k, v gjson.Result) bool {
			want = append(want, k.Str+"="+v.Raw+"|"+v.String())
			return true
		})
		each(gjson.Parse(doc), func(k, v gjson.Result) bool {
			val := v.String()
			if v.Type == gjson.String {
				val = str(v) // each leaves a long escaped string undecoded
			}
			got = append(got, k.Str+"="+v.Raw+"|"+val)
			return true
		})
		require.Equal(t, want, got, doc)
	}
}

func TestGet(t *testing.T) {
	r := gjson.Parse(`{"a":{"b":"c"},"d":[5,6]}`)
	require.Equal(t, "c", get(get(r, "a"), "b").Str)
	require.Equal(t, int64(5), first(get(r, "d")).Int())
	require.False(t, get(r, "zz").Exists())
	require.False(t, first(get(r, "a")).Exists(), "first of an object")
}

func TestEach_InvalidInputNoPanic(t *testing.T) {
	for _, doc := range []string{`{"a":`, `{"a"`, `{"a":"x`, `[1,`, `{`, `{"a":[1,2}`, `{,}`, `[`, `{"a":}`} {
		each(gjson.Result{Type: gjson.JSON, Raw: doc}, func(_, v gjson.Result) bool {
			each(v, func(_, _ gjson.Result) bool { return true })
			return true
		})
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"plain", "q\"b\\s/", "nl\n\r\t", "\x00\x1f", "é中文✓", "\u2028\u2029", "bad\xffutf8"} {
		got := appendString(nil, s)
		require.True(t, json.Valid(got), "%q", got)
		var back string
		require.NoError(t, json.Unmarshal(got, &back))
		require.Equal(t, strings.ToValidUTF8(s, "\uFFFD"), back)
	}
}

// FuzzStringEnd: stringEnd agrees with a byte-by-byte reference on every
// input (the eight-byte scan must neither miss a quote nor stop at an
// escaped one).
func FuzzStringEnd(f *testing.F) {
	for _, s := range []string{`"abc"`, `"a\"b"`, `"\\"`, `"` + strings.Repeat(`x\\`, 20) + `"`, `"` + strings.Repeat("y", 40) + `\"` + `"`, `"unterminated\`, `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) == 0 || s[0] != '"' {
			s = `"` + s
		}
		want := -1
		for j := 1; j < len(s); j++ {
			if s[j] == '\\' {
				j++
				continue
			}
			if s[j] == '"' {
				want = j + 1
				break
			}
		}
		if got := stringEnd(s, 0); got != want {
			t.Fatalf("stringEnd(%q) = %d, want %d", s, got, want)
		}
	})
}
