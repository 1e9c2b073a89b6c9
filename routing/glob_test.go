package routing

import "testing"

func TestGlob_Match(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "", true},
		{"*", "gpt-4o", true},
		{"*", "openai/gpt-4o", true},
		{"gpt-*", "gpt-4o", true},
		{"gpt-*", "gpt-", true},
		{"gpt-*", "gpt", false},
		{"gpt-*", "xgpt-4o", false},
		{"o*", "o1-mini", true},
		{"o*", "gpt-4o", false},
		{"claude-*-4-5", "claude-sonnet-4-5", true},
		{"claude-*-4-5", "claude-sonnet-4-5-x", false},
		{"openai/*", "openai/gpt-4o", true},
		{"gpt-4?", "gpt-4o", true},
		{"gpt-4?", "gpt-4", false},
		{"gpt-4o", "gpt-4o", true},
		{"gpt-4o", "gpt-4o-mini", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"**", "x", true},
		{"[x]", "[x]", true},
		{"a*", "", false},
	}
	for _, c := range cases {
		if got := Glob(c.pattern).Match(c.name); got != c.want {
			t.Errorf("Glob(%q).Match(%q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

func TestGlob_Prefix(t *testing.T) {
	for pattern, want := range map[string]string{"gpt-*": "gpt-", "*": "", "claude-opus-*": "claude-opus-", "gpt-4?": "gpt-4", "gpt-4o": "gpt-4o"} {
		if got := Glob(pattern).Prefix(); got != want {
			t.Errorf("Glob(%q).Prefix() = %q, want %q", pattern, got, want)
		}
	}
}

func TestGlob_MatchNoAlloc(t *testing.T) {
	g := Glob("claude-*-4-*")
	var sink bool
	if n := testing.AllocsPerRun(100, func() { sink = g.Match("claude-sonnet-4-5") }); n != 0 || !sink {
		t.Errorf("allocs = %v, want 0", n)
	}
}
