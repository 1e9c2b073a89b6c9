package packaging

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/llm-proxy/llm-proxy/app"
)

var update = flag.Bool("update", false, "rewrite the README's generated English settings table from app.Settings()")

// The README's settings tables sit between these markers. The English one is
// generated from app.Settings(), the list `llm-proxy -h` prints; the Chinese
// one is translated by hand and checked for the same names and defaults.
const (
	enBegin = "<!-- BEGIN settings: generated from `llm-proxy -h` by `go test ./packaging -run TestREADME -update`; edit app/config.go, not this table -->"
	enEnd   = "<!-- END settings -->"
	zhBegin = "<!-- BEGIN settings-zh: names and defaults checked against `llm-proxy -h` by packaging/readme_test.go -->"
	zhEnd   = "<!-- END settings-zh -->"
)

// defaultCell renders a default the way both tables show it.
func defaultCell(d string) string {
	if d == "" {
		return "—"
	}
	return "`" + d + "`"
}

// settingsTable renders app.Settings() as the README's English table.
func settingsTable() string {
	cell := strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;")
	var b strings.Builder
	b.WriteString("| Variable | Default | Meaning |\n|---|---|---|\n")
	for _, s := range app.Settings() {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", s.Name, defaultCell(s.Default), cell.Replace(strings.TrimSpace(s.Help)))
	}
	return b.String()
}

// between returns the text between begin and end, and where it starts and ends.
func between(t *testing.T, text, begin, end string) (inner string, from, to int) {
	t.Helper()
	i := strings.Index(text, begin)
	j := strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("README.md: markers %q … %q not found", begin, end)
	}
	from = i + len(begin)
	return text[from:j], from, j
}

func TestREADME_SettingsTable(t *testing.T) {
	readme := readFile(t, "README.md")
	inner, from, to := between(t, readme, enBegin, enEnd)
	want := "\n" + settingsTable()
	if *update {
		readme = readme[:from] + want + readme[to:]
		if err := os.WriteFile(filepath.Join("..", "README.md"), []byte(readme), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if inner != want {
		t.Errorf("README.md: the settings table differs from `llm-proxy -h`; run: go test ./packaging -run TestREADME -update\nwant:\n%s", want)
	}
}

func TestREADME_ChineseSettingsTable(t *testing.T) {
	inner, _, _ := between(t, readFile(t, "README.md"), zhBegin, zhEnd)
	row := regexp.MustCompile("(?m)^\\| `([A-Z0-9_]+)` \\| ([^|]+) \\|")
	got := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(inner, -1) {
		got[m[1]] = strings.TrimSpace(m[2])
	}
	for _, s := range app.Settings() {
		d, ok := got[s.Name]
		switch {
		case !ok:
			t.Errorf("README.md 中文设置表: missing %s (default %s)", s.Name, defaultCell(s.Default))
		case d != defaultCell(s.Default):
			t.Errorf("README.md 中文设置表: %s default is %s, want %s", s.Name, d, defaultCell(s.Default))
		}
		delete(got, s.Name)
	}
	for name := range got {
		t.Errorf("README.md 中文设置表: %s is not a setting of llm-proxy -h", name)
	}
}
