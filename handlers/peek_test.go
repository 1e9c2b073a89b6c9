package handlers

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestPeekBody(t *testing.T) {
	tests := []struct {
		name string
		body string
		want BodyInfo
		ok   bool
	}{
		{"chat", `{"model":"gpt-4o","stream":true,"messages":[]}`, BodyInfo{"gpt-4o", true}, true},
		{"stream false", `{"model":"m","stream":false}`, BodyInfo{"m", false}, true},
		{"stream as string is not true", `{"model":"m","stream":"true"}`, BodyInfo{"m", false}, true},
		{"no model", `{"input":"x"}`, BodyInfo{}, true},
		{"model not a string", `{"model":42}`, BodyInfo{}, true},
		{"nested model ignored", `{"messages":[{"model":"x","stream":true}]}`, BodyInfo{}, true},
		{"escaped model", `{"model":"a\"b"}`, BodyInfo{`a"b`, false}, true},
		{"whitespace", " \n{ \"model\" : \"m\" } \n", BodyInfo{"m", false}, true},
		{"not json", `model=gpt`, BodyInfo{}, false},
		{"truncated", `{"model":"m"`, BodyInfo{}, false},
		{"array", `[{"model":"m"}]`, BodyInfo{}, false},
		{"empty", ``, BodyInfo{}, false},
		{"trailing garbage", `{"model":"m"} x`, BodyInfo{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := PeekBody([]byte(tt.body))
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestPeekBody_LongModelCut(t *testing.T) {
	model := strings.Repeat("é", 100) // 200 bytes
	got, ok := PeekBody([]byte(`{"model":"` + model + `"}`))
	assert.True(t, ok)
	assert.LessOrEqual(t, len(got.Model), maxModelLen)
	assert.True(t, utf8.ValidString(got.Model))
}

func TestPeekBody_DoesNotAliasBody(t *testing.T) {
	body := []byte(`{"model":"gpt-4o"}`)
	got, _ := PeekBody(body)
	copy(body, strings.Repeat("x", len(body)))
	assert.Equal(t, "gpt-4o", got.Model)
}

// FuzzPeekBody: PeekBody agrees with encoding/json on validity, model and
// stream, and never panics.
func FuzzPeekBody(f *testing.F) {
	for _, s := range []string{`{"model":"m","stream":true}`, `{"model":"\u00e9"}`, `[]`, `{"a":{"model":"x"}}`, `{"stream":true,"stream":false}`, `"x"`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := PeekBody(body)
		var v map[string]any
		err := json.Unmarshal(body, &v)
		stdOK := err == nil && v != nil
		if ok != stdOK {
			// encoding/json is stricter about invalid UTF-8 and duplicate keys are fine in both; only compare validity on valid UTF-8.
			if utf8.Valid(body) {
				t.Fatalf("PeekBody ok=%v, encoding/json ok=%v (%v) for %q", ok, stdOK, err, body)
			}
			return
		}
		if !ok || !utf8.Valid(body) {
			return
		}
		if m, isStr := v["model"].(string); isStr && len(m) <= maxModelLen && got.Model != m {
			t.Fatalf("model %q, want %q", got.Model, m)
		}
	})
}

func BenchmarkPeekBody(b *testing.B) {
	body := []byte(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"` + strings.Repeat("Tell me a story. ", 60) + `"}],"temperature":0.7}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		PeekBody(body)
	}
}

// TestPeekBody_NoBodyCopy guards against copying the body (which may be
// 32 MiB of base64): the model string is the only allocation.
func TestPeekBody_NoBodyCopy(t *testing.T) {
	big := []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"` + strings.Repeat("QUJD", 1<<18) + `"}],"stream":true}`)
	allocs := testing.AllocsPerRun(20, func() {
		info, ok := PeekBody(big)
		if !ok || info.Model != "gpt-4o" || !info.Stream {
			t.Fatal("wrong peek")
		}
	})
	assert.LessOrEqual(t, allocs, 1.0)
}
