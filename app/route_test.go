package app

// Routes and paths: other /v1 endpoints passed through, path tricks kept
// under the base path. A real proxy in front of the simulated upstream (see
// helpers_test.go).

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// GET /v1/models and the other /v1/* endpoints are passed through.
func TestE2E_OtherEndpointsPassThrough(t *testing.T) {
	t.Parallel()
	up, p := setup(t, 1)
	cases := []struct {
		method, path, body, keyHeader string
		status                        int
		contains                      string
	}{
		{http.MethodGet, "/v1/models", "", "Authorization", 200, `"object":"list"`},
		{http.MethodGet, "/v1/models?limit=1", "", "x-api-key", 200, `"object":"list"`},
		{http.MethodPost, "/v1/responses", `{"model":"gpt-4.1-mini","input":"hi"}`, "Authorization", 200, `"object":"response"`},
		{http.MethodPost, "/v1/embeddings", `{"model":"text-embedding-3-small","input":["a","b"]}`, "Authorization", 200, `"embedding"`},
		{http.MethodPost, "/v1/messages/count_tokens", anthBody, "x-api-key", 200, `"input_tokens"`},
		{http.MethodPost, "/v1/completions", `{"model":"gpt-3.5-turbo-instruct","prompt":"hi"}`, "Authorization", 404, `Invalid URL`},
		{http.MethodDelete, "/v1/files/file-abc", "", "Authorization", 404, `Invalid URL`},
	}
	for i, tc := range cases {
		a := p.call(request{method: tc.method, path: tc.path, body: tc.body, keyHeader: tc.keyHeader})
		assert.Equal(t, tc.status, a.status, "%s %s: %.300s", tc.method, tc.path, a.body)
		assert.Contains(t, string(a.body), tc.contains, "%s %s", tc.method, tc.path)
		reqs := up.Requests()
		require.Len(t, reqs, i+1, "%s %s: upstream requests", tc.method, tc.path)
		r := reqs[i]
		assert.Equal(t, []string{tc.method, tc.path, tc.body}, []string{r.Method, r.Path, string(r.Body)}, "%s %s: what the upstream got", tc.method, tc.path)
	}
	// A streamed Responses API call is relayed as a stream, its terminal event recognised.
	up.Push(sim.Step{Events: []string{
		"event: response.created\ndata: {\"type\":\"response.created\"}\n\n",
		"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}}\n\n",
	}})
	a, _ := p.streamOK(request{path: "/v1/responses", body: `{"model":"gpt-4.1","input":"hi","stream":true}`})
	require.Equal(t, 200, a.status, "responses stream: %s", a.body)
	require.Contains(t, string(a.body), "response.completed", "responses stream")
	evs := p.events(len(cases) + 1)
	ev := evs[len(evs)-1]
	assert.True(t, ev.Route == "/v1/responses" && ev.Stream && ev.Terminal && ev.InputTokens == 3 && ev.OutputTokens == 4, "responses stream record = %+v", ev)
	assert.True(t, evs[0].Route == "/v1/models" && evs[0].Method == http.MethodGet && evs[0].Outcome == stats.OutcomeOK, "models record = %+v", evs[0])
}

// rawRequest sends a request line exactly as given (no client-side path
// cleaning) and returns the status and body.
func rawRequest(t *testing.T, base, target string) (int, string) {
	t.Helper()
	u, _ := url.Parse(base)
	c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	require.NoError(t, err, "dial")
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	body := openAIBody
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		target, u.Host, clientKey, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err, "%s: reading the answer", target)
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, sb.String()
}

// Path tricks never reach outside the upstream's base path: whatever the
// client sends, the upstream sees a path under /v1/ with no dot segment,
// even after it decodes it.
func TestFaults_PathTricks(t *testing.T) {
	t.Parallel()
	up, p := setup(t, 1)
	targets := []string{
		"/v1/../api/stats",
		"/v1/../../etc/passwd",
		"/v1/%2e%2e/x",
		"/v1/%2E%2E/api/stats",
		"/v1/%252e%252e/x",
		"/v1/%252e%252e/%252e%252e/x",
		"/v1/a/%2e%2e/%2e%2e/x",
		"/v1/..%2fapi%2fstats",
		"/v1/..%252f..%252fx",
		"/v1/chat%2fcompletions",
		"/v1%2f..%2fapi%2fstats",
		"/v1//../x",
		"/v1/./models",
		"/v1/models/..%5c..%5cx",
		"/v1/.%2e/x",
		"/v1/%2e./x",
	}
	for _, target := range targets {
		before := up.Count()
		status, body := rawRequest(t, p.base, target)
		t.Logf("%-32s -> %d (upstream requests +%d) %.120s", target, status, up.Count()-before, body)
		assert.NotZero(t, status, "%s: no answer", target)
	}
	for _, r := range up.Requests() {
		rawPath, _, _ := strings.Cut(r.Path, "?")
		decoded, err := url.PathUnescape(rawPath)
		if !assert.NoError(t, err, "upstream got an undecodable path %q", r.Path) {
			continue
		}
		assert.True(t, strings.HasPrefix(decoded, "/v1/"), "upstream got %q (decoded %q): outside /v1/", r.Path, decoded)
		for _, seg := range strings.Split(decoded, "/") {
			assert.False(t, seg == ".." || seg == ".", "upstream got %q (decoded %q): a dot segment that steps outside once decoded", r.Path, decoded)
		}
		c := path.Clean(decoded)
		assert.True(t, strings.HasPrefix(c, "/v1/") || c == "/v1", "upstream got %q, which cleans to %q", r.Path, c)
		// Some servers treat a backslash as a path separator.
		c = path.Clean(strings.ReplaceAll(decoded, `\`, "/"))
		assert.True(t, strings.HasPrefix(c, "/v1/"), "upstream got %q, which a server that reads \\ as / cleans to %q", r.Path, c)
	}
}
