package logging

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the Writer's goroutine and the test.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWriter_Write(t *testing.T) {
	var out syncBuffer
	w := NewWriter(&out)
	defer w.Close()
	p := []byte("one\n")
	w.Write(p)
	copy(p, "XXX\n") // the caller may reuse p at once
	w.Write([]byte("two\n"))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "one\ntwo\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Lines reach the output without a Flush, and many lines take few writes.
func TestWriter_FlushesInBackground(t *testing.T) {
	var out syncBuffer
	w := NewWriter(&out)
	defer w.Close()
	for i := range 100 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(out.String(), "\n") < 100 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := strings.Count(out.String(), "\n"); got != 100 {
		t.Fatalf("got %d lines, want 100", got)
	}
	out.mu.Lock()
	writes := out.writes
	out.mu.Unlock()
	if writes >= 100 {
		t.Errorf("100 lines took %d writes: not batched", writes)
	}
}

func TestWriter_Close(t *testing.T) {
	var out syncBuffer
	w := NewWriter(&out)
	w.Write([]byte("before\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "before\n"; got != want {
		t.Errorf("after Close: got %q, want %q", got, want)
	}
	w.Write([]byte("after\n")) // straight through
	if got, want := out.String(), "before\nafter\n"; got != want {
		t.Errorf("write after Close: got %q, want %q", got, want)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Concurrent writers: every line arrives whole, each writer's lines in order,
// also when the buffer fills up and writers flush themselves.
func TestWriter_Concurrent(t *testing.T) {
	var out syncBuffer
	w := NewWriter(&out)
	const writers, lines = 8, 2000
	pad := strings.Repeat("x", 100)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(w, "%d %d %s\n", g, i, pad)
			}
		})
	}
	wg.Wait()
	w.Close()
	next := make([]int, writers)
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		var g, i int
		var p string
		if _, err := fmt.Sscanf(line, "%d %d %s", &g, &i, &p); err != nil || p != pad {
			t.Fatalf("broken line %q", line)
		}
		if i != next[g] {
			t.Fatalf("writer %d: line %d after %d", g, i, next[g]-1)
		}
		next[g]++
	}
	for g, n := range next {
		if n != lines {
			t.Errorf("writer %d: %d lines, want %d", g, n, lines)
		}
	}
}
