package routing

import (
	"strings"
	"testing"
)

func TestRouting_Describe(t *testing.T) {
	r := mustRouting(t, fullExample, nil)
	var b strings.Builder
	if err := r.Describe(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"targets (4):", "openai#1", "openai#2", "sk-…1111", "sk-…2222", "https://api.anthropic.com/v1", "anthropic", "gpt-*,o*,text-embedding-*", "OpenAI-Organization", "reasoning_effort,max_completion_tokens", "output<=8192",
		"models (3):", "fast", "gpt-4o-mini", "gpt-4o-mini,claude-sonnet-4-5", "rate_limit, context_length", "20s"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, key := range testEnv {
		if len(key) > 4 && strings.Contains(out, key) {
			t.Errorf("output shows a key: %s", out)
		}
	}
}

func TestMaskKey(t *testing.T) {
	for key, want := range map[string]string{"sk-abcdefghijkl1234": "sk-…1234", "short": "…", "": "…"} {
		if got := MaskKey(key); got != want {
			t.Errorf("MaskKey(%q) = %q, want %q", key, got, want)
		}
	}
}
