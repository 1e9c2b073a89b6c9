package routing

import (
	"strings"
	"testing"
	"time"
)

var testEnv = map[string]string{"OPENAI_KEY_A": "sk-aaaaaaaaaaaa1111", "OPENAI_KEY_B": "sk-bbbbbbbbbbbb2222", "ANTHROPIC_KEY": "sk-ant-cccccccc3333", "DEEPSEEK_KEY": "sk-dddd4444", "W": "3"}

func lookupEnv(k string) (string, bool) { v, ok := testEnv[k]; return v, ok }

const fullExample = `targets:
  - name: openai                 # unique
    url: https://api.openai.com/v1
    keys: ["${OPENAI_KEY_A}", "${OPENAI_KEY_B}"]
    api: openai
    models: ["gpt-*", "o*", "text-embedding-*"]
    weight: 2
    priority: 0
    headers: {OpenAI-Organization: org-123}
    auth: bearer
    reasoning: effort
    max_tokens_field: max_completion_tokens
  - name: claude
    url: https://api.anthropic.com/v1
    keys: ["${ANTHROPIC_KEY}"]
    models: ["claude-*"]
  - name: deepseek
    url: https://api.deepseek.com/v1
    keys: ["${DEEPSEEK_KEY}"]
    models: ["deepseek-*"]
    priority: 1
    weight: ${W}
    max_output_tokens: 8192

models:
  fast:
    to: gpt-4o-mini
  gpt-4o:
    fallback: [gpt-4o-mini, claude-sonnet-4-5]
    first_byte_timeout: 20s
  "claude-opus-*":
    fallback: [claude-sonnet-4-5]
    fallback_on: [rate_limit, context_length]
`

func TestParse_FullExample(t *testing.T) {
	f, err := Parse("llm-proxy.yaml", []byte(fullExample), lookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(f.Targets), 4; got != want {
		t.Fatalf("targets = %d, want %d", got, want)
	}
	o1, o2, c, d := f.Targets[0], f.Targets[1], f.Targets[2], f.Targets[3]
	checks := []struct {
		name      string
		got, want any
	}{
		{"openai#1 name", o1.Name, "openai#1"},
		{"openai#2 name", o2.Name, "openai#2"},
		{"group", o2.Group, "openai"},
		{"key 1", o1.Key, "sk-aaaaaaaaaaaa1111"},
		{"key 2", o2.Key, "sk-bbbbbbbbbbbb2222"},
		{"url", o1.URL.String(), "https://api.openai.com/v1"},
		{"api", o1.API, APIOpenAI},
		{"models", len(o1.Models), 3},
		{"weight", o1.Weight, 2},
		{"headers", o1.Headers, [][2]string{{"OpenAI-Organization", "org-123"}}},
		{"auth", o1.Auth, AuthBearer},
		{"reasoning", o2.ReasoningEffort, true},
		{"max_tokens_field", o2.MaxCompletionTokens, true},
		{"deepseek reasoning default", d.ReasoningEffort, false},
		{"deepseek max_tokens_field default", d.MaxCompletionTokens, false},
		{"deepseek max_output_tokens", d.MaxOutputTokens, 8192},
		{"openai max_output_tokens default", o2.MaxOutputTokens, 0},
		{"line", o2.Line, 2},
		{"claude name (one key)", c.Name, "claude"},
		{"claude api from host", c.API, APIAnthropic},
		{"claude default weight", c.Weight, 1},
		{"claude default priority", c.Priority, 0},
		{"claude default auth", c.Auth, AuthClient},
		{"deepseek api default", d.API, APIOpenAI},
		{"deepseek priority", d.Priority, 1},
		{"deepseek weight from env", d.Weight, 3},
		{"models", len(f.Models), 3},
		{"alias", f.Models[0].To, "gpt-4o-mini"},
		{"fallback", f.Models[1].Fallback, []string{"gpt-4o-mini", "claude-sonnet-4-5"}},
		{"default fallback_on", f.Models[1].FallbackOn, DefaultFallbackOn},
		{"first_byte_timeout", f.Models[1].FirstByteTimeout, 20 * time.Second},
		{"pattern key", f.Models[2].Name, "claude-opus-*"},
		{"fallback_on", f.Models[2].FallbackOn, KindSet(0).With(KindRateLimit).With(KindContextLength)},
		{"model line", f.Models[2].Line, 31},
	}
	for _, c := range checks {
		if !equal(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func equal(a, b any) bool {
	return strings.EqualFold(strings.TrimSpace(sprint(a)), strings.TrimSpace(sprint(b)))
}

func TestParse_Defaults(t *testing.T) {
	f, err := Parse("f.yaml", []byte("targets:\n  - name: a\n    url: http://127.0.0.1:9/v1\n    keys: [k]\n"), lookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	got := f.Targets[0]
	if got.Name != "a" || got.API != APIOpenAI || got.Weight != 1 || got.Priority != 0 || len(got.Models) != 1 || got.Models[0] != "*" || got.Auth != AuthClient {
		t.Errorf("defaults: %+v", got)
	}
}

// TestParse_TranslationOptions: reasoning and max_tokens_field, per target
// (each key's target of an entry), on targets of the OpenAI API or any.
func TestParse_TranslationOptions(t *testing.T) {
	for _, tc := range []struct {
		name, fields          string
		reasoning, completion bool
	}{
		{"defaults", "", false, false},
		{"effort", "    reasoning: effort\n", true, false},
		{"none", "    reasoning: none\n", false, false},
		{"max_completion_tokens", "    max_tokens_field: max_completion_tokens\n", false, true},
		{"max_tokens", "    max_tokens_field: max_tokens\n", false, false},
		{"both, api any", "    api: any\n    reasoning: effort\n    max_tokens_field: max_completion_tokens\n", true, true},
		{"from a variable", "    reasoning: ${R}\n", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := func(k string) (string, bool) {
				if k == "R" {
					return "effort", true
				}
				return lookupEnv(k)
			}
			f, err := Parse("f.yaml", []byte("targets:\n  - name: a\n    url: http://127.0.0.1:9/v1\n    keys: [k1, k2]\n"+tc.fields), env)
			if err != nil {
				t.Fatal(err)
			}
			for _, got := range f.Targets {
				if got.ReasoningEffort != tc.reasoning || got.MaxCompletionTokens != tc.completion {
					t.Errorf("%s: reasoning %v max_completion_tokens %v, want %v %v", got.Name, got.ReasoningEffort, got.MaxCompletionTokens, tc.reasoning, tc.completion)
				}
			}
		})
	}
}

// TestParse_MaxOutputTokens: a per-target cap on translated requests' output
// limit; none by default.
func TestParse_MaxOutputTokens(t *testing.T) {
	f, err := Parse("f.yaml", []byte(`targets:
  - {name: deepseek, url: "http://127.0.0.1:9/v1", keys: [k], max_output_tokens: 8192}
  - {name: other, url: "http://127.0.0.1:9/v1", keys: [k2], api: any}
`), lookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Targets[0].MaxOutputTokens; got != 8192 {
		t.Errorf("deepseek: max_output_tokens %d, want 8192", got)
	}
	if got := f.Targets[1].MaxOutputTokens; got != 0 {
		t.Errorf("other: max_output_tokens %d, want 0 (no cap)", got)
	}
}

func TestParse_ModelsOnly(t *testing.T) {
	f, err := Parse("f.yaml", []byte("models:\n  fast: {to: gpt-4o-mini}\n"), lookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Targets) != 0 || len(f.Models) != 1 {
		t.Errorf("got %d targets, %d models", len(f.Targets), len(f.Models))
	}
}

// TestParse_Errors: every error names the file, the line and the field.
func TestParse_Errors(t *testing.T) {
	const t1 = "targets:\n  - name: a\n    url: http://h/v1\n    keys: [k]\n"
	cases := []struct {
		name, yaml, want string
	}{
		{"weight not a number", t1 + "  - name: b\n    url: http://h/v1\n    keys: [k2]\n    weight: x\n", `f.yaml:8: targets[1].weight: not a number: "x"`},
		{"weight zero", t1 + "    weight: 0\n", `f.yaml:5: targets[0].weight: 0 is out of range 1..10000`},
		{"weight negative", t1 + "    weight: -2\n", `f.yaml:5: targets[0].weight: -2 is out of range 1..10000`},
		{"weight list", t1 + "    weight: [1]\n", `f.yaml:5: targets[0].weight: not a text value`},
		{"priority not a number", t1 + "    priority: high\n", `f.yaml:5: targets[0].priority: not a number: "high"`},
		{"priority negative", t1 + "    priority: -1\n", `f.yaml:5: targets[0].priority: -1 is out of range 0..1000`},
		{"unknown top field", "target:\n  - name: a\n", `f.yaml:1: target: unknown field (known: targets, models)`},
		{"unknown target field", t1 + "    wieght: 2\n", `f.yaml:5: targets[0].wieght: unknown field (known: name, url, keys, api, models, weight, priority, headers, auth, reasoning, max_tokens_field, max_output_tokens)`},
		{"bad reasoning", t1 + "    reasoning: high\n", `f.yaml:5: targets[0].reasoning: "high": use effort (thinking becomes reasoning_effort) or none`},
		{"reasoning not text", t1 + "    reasoning: [effort]\n", `f.yaml:5: targets[0].reasoning: not a text value`},
		{"reasoning on anthropic", t1 + "    api: anthropic\n    reasoning: effort\n", `f.yaml:6: targets[0].reasoning: only for targets that speak OpenAI's API (api: openai or any): it says how translated Anthropic requests are sent`},
		{"reasoning on anthropic host", "targets:\n  - name: c\n    reasoning: none\n    url: https://api.anthropic.com/v1\n    keys: [k]\n", `f.yaml:3: targets[0].reasoning: only for targets that speak OpenAI's API (api: openai or any): it says how translated Anthropic requests are sent`},
		{"bad max_tokens_field", t1 + "    max_tokens_field: max_output_tokens\n", `f.yaml:5: targets[0].max_tokens_field: "max_output_tokens": use max_tokens or max_completion_tokens`},
		{"max_tokens_field on anthropic", t1 + "    api: anthropic\n    max_tokens_field: max_tokens\n", `f.yaml:6: targets[0].max_tokens_field: only for targets that speak OpenAI's API (api: openai or any): it says how translated Anthropic requests are sent`},
		{"max_output_tokens zero", t1 + "    max_output_tokens: 0\n", `f.yaml:5: targets[0].max_output_tokens: 0 is out of range 1..1073741824`},
		{"max_output_tokens not a number", t1 + "    max_output_tokens: 8k\n", `f.yaml:5: targets[0].max_output_tokens: not a number: "8k"`},
		{"max_output_tokens on anthropic", t1 + "    api: anthropic\n    max_output_tokens: 8192\n", `f.yaml:6: targets[0].max_output_tokens: only for targets that speak OpenAI's API (api: openai or any): it says how translated Anthropic requests are sent`},
		{"unknown model field", t1 + "models:\n  gpt-4o:\n    falback: [x]\n", `f.yaml:7: models.gpt-4o.falback: unknown field (known: to, fallback, fallback_on, first_byte_timeout)`},
		{"missing name", "targets:\n  - url: http://h/v1\n    keys: [k]\n", `f.yaml:2: targets[0].name: missing`},
		{"missing url", "targets:\n  - name: a\n    keys: [k]\n", `f.yaml:2: targets[0].url: missing`},
		{"missing keys", "targets:\n  - name: a\n    url: http://h/v1\n", `f.yaml:2: targets[0].keys: missing (write keys: ["${ENV_VAR}"])`},
		{"empty keys", "targets:\n  - name: a\n    url: http://h/v1\n    keys: []\n", `f.yaml:4: targets[0].keys: empty: give at least one key`},
		{"empty key", "targets:\n  - name: a\n    url: http://h/v1\n    keys: [\"\"]\n", `f.yaml:4: targets[0].keys[0]: empty`},
		{"duplicate key", "targets:\n  - name: a\n    url: http://h/v1\n    keys: [k, k]\n", `f.yaml:4: targets[0].keys[1]: the same key as keys[0]`},
		{"keys not a list", "targets:\n  - name: a\n    url: http://h/v1\n    keys: k\n", `f.yaml:4: targets[0].keys: not a list`},
		{"unset variable", "targets:\n  - name: a\n    url: http://h/v1\n    keys: [\"${NOPE}\"]\n", `f.yaml:4: targets[0].keys[0]: environment variable NOPE is not set`},
		{"unclosed variable", "targets:\n  - name: a\n    url: http://h/v1\n    keys: [\"${NOPE\"]\n", `f.yaml:4: targets[0].keys[0]: unclosed ${ in "${NOPE"`},
		{"bad url", "targets:\n  - name: a\n    url: ftp://h/v1\n    keys: [k]\n", `f.yaml:3: targets[0].url: not an http(s) URL: "ftp://h/v1"`},
		{"url without host", "targets:\n  - name: a\n    url: http:///v1\n    keys: [k]\n", `f.yaml:3: targets[0].url: not an http(s) URL: "http:///v1"`},
		{"url with query", "targets:\n  - name: a\n    url: http://h/v1?x=1\n    keys: [k]\n", `f.yaml:3: targets[0].url: "http://h/v1?x=1": no query, fragment or user part, please`},
		{"duplicate name", t1 + "  - name: a\n    url: http://h2/v1\n    keys: [k]\n", `f.yaml:5: targets[1].name: "a" is already the name of the target on line 2`},
		{"bad name", "targets:\n  - name: \"a b\"\n    url: http://h/v1\n    keys: [k]\n", `f.yaml:2: targets[0].name: "a b": use letters, digits, '.', '_' and '-' (shown in /metrics)`},
		{"name with #", "targets:\n  - name: \"a#1\"\n    url: http://h/v1\n    keys: [k]\n", `f.yaml:2: targets[0].name: "a#1": use letters, digits, '.', '_' and '-' (shown in /metrics)`},
		{"bad api", t1 + "    api: gemini\n", `f.yaml:5: targets[0].api: "gemini": use openai, anthropic or any`},
		{"bad auth", t1 + "    auth: basic\n", `f.yaml:5: targets[0].auth: "basic": use bearer or x-api-key`},
		{"models not a list", t1 + "    models: gpt-*\n", `f.yaml:5: targets[0].models: not a list`},
		{"models empty", t1 + "    models: []\n", `f.yaml:5: targets[0].models: empty: leave it out to serve every model`},
		{"models empty entry", t1 + "    models: [\"\"]\n", `f.yaml:5: targets[0].models[0]: empty`},
		{"headers not a mapping", t1 + "    headers: [a]\n", `f.yaml:5: targets[0].headers: not a mapping`},
		{"header forbidden", t1 + "    headers: {Authorization: x}\n", `f.yaml:5: targets[0].headers.Authorization: set by the proxy itself (use keys: and auth:)`},
		{"header bad name", t1 + "    headers: {\"a b\": x}\n", `f.yaml:5: targets[0].headers.a b: not a header name`},
		{"header value list", t1 + "    headers: {X-A: [1]}\n", `f.yaml:5: targets[0].headers.X-A: not a text value`},
		{"targets not a list", "targets: {a: 1}\n", `f.yaml:1: targets: not a list`},
		{"target not a mapping", "targets:\n  - a\n", `f.yaml:2: targets[0]: not a mapping`},
		{"duplicate field", t1 + "    keys: [j]\n", `f.yaml:5: mapping key "keys" already defined at [4:5]`},
		{"syntax error", "targets:\n  - name: a\n   url: x\n", `f.yaml:3: value is not allowed in this context`},
		{"tab indentation", "targets:\n\t- name: a\n", `f.yaml:2: found character '\t' that cannot start any token`},
		{"empty file", "", `f.yaml: empty file: give targets: and/or models:`},
		{"not a mapping", "- a\n", `f.yaml:1: not a mapping of targets: and models:`},
		{"models not a mapping", t1 + "models: [a]\n", `f.yaml:5: models: not a mapping`},
		{"model entry empty", t1 + "models:\n  gpt-4o:\n", `f.yaml:6: models.gpt-4o: empty entry: give to:, fallback: or first_byte_timeout:`},
		{"model entry scalar", t1 + "models:\n  gpt-4o: x\n", `f.yaml:6: models.gpt-4o: not a mapping`},
		{"alias to pattern", t1 + "models:\n  fast: {to: gpt-*}\n", `f.yaml:6: models.fast.to: "gpt-*": an alias points to one model, not a pattern`},
		{"alias empty", t1 + "models:\n  fast: {to: \"\"}\n", `f.yaml:6: models.fast.to: empty`},
		{"alias pattern name", t1 + "models:\n  \"f*\": {to: x}\n", `f.yaml:6: models.f*.to: an alias name must be a model name, not a pattern`},
		{"alias with fallback", t1 + "models:\n  fast: {to: x, fallback: [y]}\n", `f.yaml:6: models.fast.to: an alias carries no fallback or timeout of its own: put them on "x"`},
		{"alias to itself", t1 + "models:\n  fast: {to: fast}\n", `f.yaml:6: models.fast.to: points to itself`},
		{"alias chain", t1 + "models:\n  a1: {to: a2}\n  a2: {to: m}\n", `f.yaml:6: models.a1.to: "a2" is itself an alias (aliases do not chain)`},
		{"fallback pattern", t1 + "models:\n  m: {fallback: [\"x-*\"]}\n", `f.yaml:6: models.m.fallback[0]: "x-*": a fallback is one model, not a pattern`},
		{"fallback itself", t1 + "models:\n  m: {fallback: [m]}\n", `f.yaml:6: models.m.fallback[0]: "m" is already in the chain`},
		{"fallback twice", t1 + "models:\n  m:\n    fallback:\n      - x\n      - x\n", `f.yaml:9: models.m.fallback[1]: "x" is already in the chain`},
		{"fallback empty", t1 + "models:\n  m: {fallback: []}\n", `f.yaml:6: models.m.fallback: empty list`},
		{"fallback too long", t1 + "models:\n  m: {fallback: [a,b,c,d,e,f,g,h,i]}\n", `f.yaml:6: models.m.fallback: more than 8 models`},
		{"fallback_on unknown", t1 + "models:\n  m: {fallback: [x], fallback_on: [overload]}\n", `f.yaml:6: models.m.fallback_on[0]: "overload": use rate_limit, server_error, unreachable, timeout or context_length`},
		{"fallback_on empty", t1 + "models:\n  m: {fallback: [x], fallback_on: []}\n", `f.yaml:6: models.m.fallback_on: empty list`},
		{"fallback_on alone", t1 + "models:\n  m: {fallback_on: [timeout]}\n", `f.yaml:6: models.m.fallback_on: given without fallback:`},
		{"timeout bad", t1 + "models:\n  m: {first_byte_timeout: 20}\n", `f.yaml:6: models.m.first_byte_timeout: not a duration: "20" (write 500ms, 30s, 5m)`},
		{"timeout negative", t1 + "models:\n  m: {first_byte_timeout: -1s}\n", `f.yaml:6: models.m.first_byte_timeout: must be positive: "-1s"`},
		{"fallback not served", "targets:\n  - name: a\n    url: http://h/v1\n    keys: [k]\n    models: [gpt-*]\nmodels:\n  gpt-4o: {fallback: [claude-x]}\n", `f.yaml:7: models.gpt-4o.fallback[0]: no target serves "claude-x"`},
		{"alias not served", "targets:\n  - name: a\n    url: http://h/v1\n    keys: [k]\n    models: [gpt-*]\nmodels:\n  fast: {to: claude-x}\n", `f.yaml:7: models.fast.to: no target serves "claude-x"`},
		{"duplicate model", t1 + "models:\n  m: {to: x}\n  m: {to: y}\n", `f.yaml:7: mapping key "m" already defined at [6:3]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(c.yaml), lookupEnv)
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if got := err.Error(); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

// TestParse_NeverEchoesKey: a key given in the file never appears in an error.
func TestParse_NeverEchoesKey(t *testing.T) {
	_, err := Parse("f.yaml", []byte("targets:\n  - name: a\n    url: http://h/v1\n    keys: [sk-secret-123456, sk-secret-123456]\n"), lookupEnv)
	if err == nil || strings.Contains(err.Error(), "sk-secret") {
		t.Errorf("err = %v", err)
	}
}
