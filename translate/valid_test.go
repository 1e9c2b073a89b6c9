package translate

import (
	"slices"
	"testing"

	"github.com/tidwall/gjson"
)

var validCases = []string{
	``, ` `, `{}`, `[]`, ` { } `, `[ ]`, `{"a":1}`, `{"a" : [1, 2.5, -3e+2, 0, -0.1E5, true, false, null, "x"]}`,
	`{"a":{"b":{"c":[[],{}]}}}`, `"s"`, `1`, `-`, `01`, `1.`, `.5`, `1e`, `1e+`, `-a`, `tru`, `nul`, `falsey`,
	`{"a":1,}`, `[1,]`, `{,}`, `[,1]`, `{"a"}`, `{"a":}`, `{1:2}`, `[1 2]`, `{"a":1 "b":2}`, `[}`, `{]`, `[[]`, `[]]`,
	`{"a":1}x`, `{"a":1} {}`, `"\u00e9\n\t\"\\\/\b\f\r"`, `"\u00g0"`, `"\x"`, `"a` + "\x01" + `"`, "\"tab\tin\"",
	`"` + "\xff\xfe" + `"`, `"unterminated`, `"ends with backslash\`, `"abcdefghijklmnopqrstuvwxyz\"0123456789"`,
	`["abcdefgh","abcdefg\\","abcdefghi\"j"]`, `{"k":"` + "\x1f" + `"}`, "\t\n\r {\"a\" \n:\r[ ] }\n", `[1e5,1E-5,-0e0]`,
	`[-01]`, `[1.e3]`,
}

// TestValidTape_AsGjsonValid: validTape accepts exactly what gjson.Valid
// accepts, and its tape is buildTape's.
func TestValidTape_AsGjsonValid(t *testing.T) {
	for _, s := range append(validCases, string(claudeCode(t))) {
		checkValidTape(t, s)
	}
}

func checkValidTape(t *testing.T, s string) {
	t.Helper()
	tape, ok := validTape(s)
	if want := gjson.Valid(s); ok != want {
		t.Fatalf("validTape(%q) = %v, gjson.Valid %v", s, ok, want)
	}
	if !ok {
		return
	}
	if want := buildTape(s); !slices.Equal(tape, want) && !(len(tape) == 0 && len(want) == 0) {
		t.Fatalf("tape of %q = %v, buildTape %v", s, tape, want)
	}
}

func FuzzValidTape(f *testing.F) {
	for _, s := range validCases {
		f.Add(s)
	}
	f.Fuzz(checkValidTape)
}

func BenchmarkValidTape_ClaudeCode(b *testing.B) {
	s := string(claudeCode(b))
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	defer cpuTimer(b)()
	for b.Loop() {
		t, ok := validTape(s)
		if !ok {
			b.Fatal("invalid")
		}
		releaseTape(gjson.Result{Indexes: t})
	}
}

func BenchmarkGjsonValid_ClaudeCode(b *testing.B) {
	s := claudeCode(b)
	b.SetBytes(int64(len(s)))
	defer cpuTimer(b)()
	for b.Loop() {
		if !gjson.ValidBytes(s) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkBuildTape_ClaudeCode(b *testing.B) {
	s := string(claudeCode(b))
	b.SetBytes(int64(len(s)))
	defer cpuTimer(b)()
	for b.Loop() {
		releaseTape(gjson.Result{Indexes: buildTape(s)})
	}
}
