package main

import (
	"io"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-conns", "8, 16", "-streams", "10", "-only", "stream", "-proxy-env", "GOGC=200"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.conns) != 2 || o.conns[1] != 16 || len(o.streams) != 1 || !o.only["stream"] || o.only["nonstream"] || o.proxyEnv[0] != "GOGC=200" {
		t.Errorf("got %+v", o)
	}
	o, err = parseFlags(nil, io.Discard)
	if err != nil || !o.only["nonstream"] || !o.only["viewers"] || o.conns[0] != 64 || o.streams[1] != 5000 {
		t.Errorf("defaults: %+v, %v", o, err)
	}
	for _, bad := range [][]string{{"-only", "nope"}, {"-conns", "0"}, {"-streams", "x"}, {"-proxy-env", "GOGC"}, {"extra"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%q: want an error", strings.Join(bad, " "))
		}
	}
}

func TestTable(t *testing.T) {
	var b strings.Builder
	tb := table{head: []string{"a", "µs"}}
	tb.add("long cell", "1")
	tb.write(&b)
	want := "| a         | µs |\n| --------- | -- |\n| long cell | 1  |\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestNoisy(t *testing.T) {
	if n := noisy(CPU{Others: 0.1}, CPU{Others: 0.2}); n != "" {
		t.Errorf("quiet machine: got %q", n)
	}
	if n := noisy(CPU{Others: 0.1}, CPU{Others: 0.6}); n == "" {
		t.Error("busy proxy phase: want a note")
	}
	if n := noisy(CPU{Others: 0.45}, CPU{Others: 0.1}); n == "" {
		t.Error("phases disturbed unequally: want a note")
	}
}
