package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// waitTimeout bounds every wait on something the server does asynchronously.
const waitTimeout = 3 * time.Second

// newServer starts a server closed at the end of the test.
func newServer(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// newClient returns a client with its own transport, closed at the end of
// the test so no client goroutines outlive it.
func newClient(t *testing.T, timeout time.Duration) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: timeout}
}

type answer struct {
	status int
	header http.Header
	body   string
}

// do sends a request with an optional body and headers (alternating
// name, value) and reads the whole answer.
func do(t *testing.T, c *http.Client, method, url, body string, hdr ...string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// sse is one parsed server-sent event.
type sse struct {
	name string
	data string
}

// parseSSE splits a complete stream body into events; it fails the test on
// anything that is not `event:`/`data:` lines separated by blank lines.
func parseSSE(t *testing.T, body string) []sse {
	t.Helper()
	require.True(t, strings.HasSuffix(body, "\n\n"), "stream must end with a blank line: %q", body)
	var out []sse
	for block := range strings.SplitSeq(strings.TrimSuffix(body, "\n\n"), "\n\n") {
		var ev sse
		for line := range strings.SplitSeq(block, "\n") {
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			default:
				t.Fatalf("unexpected SSE line %q", line)
			}
		}
		require.NotEmpty(t, ev.data, "event without data in %q", block)
		out = append(out, ev)
	}
	return out
}

// decode unmarshals a JSON text into a generic map, failing the test if it
// is not a JSON object.
func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	require.NoError(t, d.Decode(&m), "not a JSON object: %q", s)
	return m
}

// path walks nested maps and slices: path(m, "usage", "prompt_tokens"),
// path(m, "choices", 0, "delta").
func path(t *testing.T, v any, keys ...any) any {
	t.Helper()
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			require.True(t, ok, "want an object for %q, got %T", k, v)
			v, ok = m[k]
			require.True(t, ok, "missing key %q in %v", k, m)
		case int:
			a, ok := v.([]any)
			require.True(t, ok, "want an array for [%d], got %T", k, v)
			require.Less(t, k, len(a))
			v = a[k]
		}
	}
	return v
}

// num returns a json.Number field as int.
func num(t *testing.T, v any, keys ...any) int {
	t.Helper()
	n, ok := path(t, v, keys...).(json.Number)
	require.True(t, ok, "want a number at %v", keys)
	i, err := n.Int64()
	require.NoError(t, err)
	return int(i)
}

// str returns a string field.
func str(t *testing.T, v any, keys ...any) string {
	t.Helper()
	s, ok := path(t, v, keys...).(string)
	require.True(t, ok, "want a string at %v", keys)
	return s
}

// waitGone waits for the next Gone report.
func waitGone(t *testing.T, s *Server) Received {
	t.Helper()
	select {
	case r := <-s.Gone():
		return r
	case <-time.After(waitTimeout):
		t.Fatal("no Gone report")
		return Received{}
	}
}

// noGone asserts no Gone report is pending.
func noGone(t *testing.T, s *Server) {
	t.Helper()
	select {
	case r := <-s.Gone():
		t.Fatalf("unexpected Gone report for %s %s", r.Method, r.Path)
	default:
	}
}

// withTimeout returns a context cancelled at the end of the test.
func withTimeout(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx, cancel
}
