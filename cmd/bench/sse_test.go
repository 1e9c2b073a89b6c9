package main

import (
	"strings"
	"testing"
)

func TestSSECounter_Feed(t *testing.T) {
	stream := "data: {\"a\":1}\n\n: comment\n\ndata: {\"b\":2}\r\n\r\n\n\ndata: [DONE]\n\n"
	// Whole, and split at every possible point and byte by byte: always 4
	// events (the comment counts as one; blank lines alone do not).
	for split := 0; split <= len(stream); split++ {
		var s sseCounter
		got := s.Feed([]byte(stream[:split])) + s.Feed([]byte(stream[split:]))
		if got != 4 || !s.Done {
			t.Fatalf("split at %d: %d events, done %v; want 4, true", split, got, s.Done)
		}
	}
	var s sseCounter
	n := 0
	for i := range len(stream) {
		n += s.Feed([]byte{stream[i]})
	}
	if n != 4 || !s.Done {
		t.Errorf("byte by byte: %d events, done %v; want 4, true", n, s.Done)
	}
}

func TestSSECounter_NoDone(t *testing.T) {
	for _, body := range []string{"data: [DON]\n\n", "data: [[DONE\n\n", "data: {}\n\n"} {
		var s sseCounter
		s.Feed([]byte(body))
		if s.Done {
			t.Errorf("%q: Done set", body)
		}
	}
	var s sseCounter
	if n := s.Feed([]byte("data: [[DONE]\n\n")); n != 1 || !s.Done {
		t.Errorf("[[DONE]: %d events, done %v; want 1, true", n, s.Done)
	}
	if n := (&sseCounter{}).Feed([]byte(strings.Repeat("\n", 5))); n != 0 {
		t.Errorf("blank lines: %d events, want 0", n)
	}
}
