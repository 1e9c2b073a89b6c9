package upstream

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

const testKey = "sk-upstream-A-7f3e9c2b1d"

// escapeAll writes every character of s as a JSON \u00XX escape.
func escapeAll(s string, upper bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		f := `\u%04x`
		if upper {
			f = `\u%04X`
		}
		fmt.Fprintf(&b, f, s[i])
	}
	return b.String()
}

// redactChunks runs chunks through one Redactor and joins what it emits.
func redactChunks(key string, chunks []string) string {
	r := newKeyScan(key).newRedactor(false)
	var out bytes.Buffer
	for _, c := range chunks {
		out.Write(r.Redact([]byte(c)))
	}
	out.Write(r.Flush())
	return out.String()
}

func TestRedactAll(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"none", `{"ok":true}`, `{"ok":true}`},
		{"raw", `Incorrect API key provided: ` + testKey + `.`, `Incorrect API key provided: [redacted].`},
		{"twice", testKey + testKey, `[redacted][redacted]`},
		{"escaped all", `{"m":"` + escapeAll(testKey, false) + `"}`, `{"m":"[redacted]"}`},
		{"escaped upper", `{"m":"` + escapeAll(testKey, true) + `"}`, `{"m":"[redacted]"}`},
		{"escaped dashes only", `key ` + strings.ReplaceAll(testKey, "-", `\u002d`) + ` end`, `key [redacted] end`},
		{"other escapes kept", `a\u00e9 \n ` + testKey[:5], `a\u00e9 \n ` + testKey[:5]},
		{"prefix only", testKey[:len(testKey)-1] + "X", testKey[:len(testKey)-1] + "X"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, string(newKeyScan(testKey).redactAll([]byte(tt.in))))
		})
	}
	body := []byte("no key here")
	assert.Same(t, &body[0], &newKeyScan(testKey).redactAll(body)[0], "no copy without a key")
}

// The key split across stream chunks at every position, raw and escaped,
// is still redacted; and nothing else is held back at a chunk's end.
func TestRedactor_RedactAcrossChunks(t *testing.T) {
	for _, form := range []string{testKey, escapeAll(testKey, false), strings.ReplaceAll(testKey, "-", `\u002D`)} {
		text := `data: {"error":{"message":"bad key ` + form + `"}}` + "\n\n"
		for cut := 1; cut < len(text); cut++ {
			for cut2 := cut; cut2 < len(text); cut2 += 7 {
				got := redactChunks(testKey, []string{text[:cut], text[cut:cut2], text[cut2:]})
				if strings.Contains(got, testKey) || strings.Contains(got, form) || !strings.Contains(got, RedactedKey) {
					t.Fatalf("cut at %d,%d: %q", cut, cut2, got)
				}
			}
		}
	}
	r := newKeyScan(testKey).newRedactor(false)
	ev := "data: {\"choices\":[{\"delta\":{\"content\":\"hi s\"}}]}\n\n"
	assert.Equal(t, ev, string(r.Redact([]byte(ev))), "an event ending in a blank line is sent whole, at once")
	assert.Equal(t, "abc ", string(r.Redact([]byte("abc sk-ups"))), "only a possible key start is held")
	assert.Equal(t, "sk-upsX", string(r.Redact([]byte("X"))))
}

func TestRedactor_NilPassesThrough(t *testing.T) {
	var r *Redactor = newKeyScan("").newRedactor(false)
	assert.Nil(t, r)
	assert.Equal(t, "abc", string(r.Redact([]byte("abc"))))
	assert.Nil(t, r.Flush())
}

// FuzzRedactor checks, for any text and any two chunk cuts, that the
// streamed output equals the one-shot redaction and never contains the key.
func FuzzRedactor(f *testing.F) {
	f.Add("x "+testKey+" y", 3, 10)
	f.Add(escapeAll(testKey, true), 5, 40)
	f.Add("sk-up\\u0073", 1, 2)
	f.Fuzz(func(t *testing.T, text string, a, b int) {
		n := len(text)
		if n == 0 {
			return
		}
		a, b = abs(a)%n, abs(b)%n
		if a > b {
			a, b = b, a
		}
		got := redactChunks(testKey, []string{text[:a], text[a:b], text[b:]})
		want := string(newKeyScan(testKey).redactAll([]byte(text)))
		if got != want {
			t.Fatalf("streamed %q, one-shot %q", got, want)
		}
		if strings.Contains(got, testKey) {
			t.Fatalf("key left in %q", got)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// BenchmarkRedactor_Redact measures the cost per KiB of relayed stream:
// ns/op is per 1 KiB chunk.
func BenchmarkRedactor_Redact(b *testing.B) {
	ev := `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Streams are fast; keys stay secret."}}]}` + "\n\n"
	kib := []byte(strings.Repeat(ev, 1024/len(ev)+1)[:1024])
	for _, tc := range []struct {
		name  string
		chunk []byte
	}{
		{"sse-1KiB", kib},
		{"escaped-text-1KiB", []byte(strings.Repeat(`caf\u00e9 \n\"ok\" `, 64)[:1024])},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := newKeyScan("sk-proj-Q8zK3mW7pL2xV9aB4cD6eF1gH3iJ5kL7mN9oP0qR2sT4uV6wX8yZ").newRedactor(false)
			b.SetBytes(int64(len(tc.chunk)))
			b.ReportAllocs()
			for b.Loop() {
				r.Redact(tc.chunk)
			}
		})
	}
}

func TestRedactor_Masking(t *testing.T) {
	r := newKeyScan(testKey).newRedactor(true)
	in := "a " + testKey + " b " + escapeAll(testKey, false)
	got := string(r.Redact([]byte(in))) + string(r.Flush())
	assert.Len(t, got, len(in), "the length is kept")
	assert.NotContains(t, got, testKey)
	assert.Equal(t, "a "+strings.Repeat("*", len(testKey))+" b "+strings.Repeat("*", 6*len(testKey)), got)
}

// TestKeyScan_SharedAcrossRedactors: a target's keyScan outlives every
// request and is shared by all of them; the redactors made from it must
// neither write to it nor share their buffers.
func TestKeyScan_SharedAcrossRedactors(t *testing.T) {
	ks := newKeyScan(testKey)
	want := string(ks.key)
	a, b := ks.redactor(), ks.redactor()
	b.mask = true
	gotA := string(a.Redact([]byte("x" + testKey[:5])))
	gotB := string(b.Redact([]byte("y " + testKey + " z")))
	gotA += string(a.Redact([]byte(testKey[5:] + " end")))
	gotA += string(a.Flush())
	gotB += string(b.Flush())
	assert.Equal(t, "x"+RedactedKey+" end", gotA)
	assert.Equal(t, "y "+strings.Repeat("*", len(testKey))+" z", gotB)
	assert.Equal(t, want, string(ks.key), "the shared key was written to")
	assert.True(t, ks.contains([]byte(`{"k":"`+testKey+`"}`)))
	assert.False(t, ks.contains([]byte(`{"k":"`+testKey[1:]+`"}`)))
	assert.Equal(t, `{"k":"`+RedactedKey+`"}`, string(ks.redactAll([]byte(`{"k":"`+testKey+`"}`))))
	assert.Equal(t, want, string(ks.key), "the shared key was written to")
}
