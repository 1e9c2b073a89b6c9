package app

// The attacks of the "hardened edges" issue (#11), one test per finding, run
// against a real proxy on a loopback port: pre-auth body floods, slow
// headers, key guessing, request echo, key echo, path-parameter tricks and
// hostile upstream answers.

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// edgeRaw writes raw to the proxy at base and returns the answer's status,
// header and body (status 0 when none came).
func edgeRaw(t *testing.T, base, raw string) (int, http.Header, string) {
	t.Helper()
	u, _ := url.Parse(base)
	c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, nil, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// edgePost is a complete raw POST with the client key, closing the connection.
func edgePost(target, host, body string) string {
	return "POST " + target + " HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + clientKey +
		"\r\nContent-Type: application/json\r\nContent-Length: " + itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body
}

// Finding 7: "/..;/" is "/../" to Tomcat, Jetty and Spring; such segments
// never reach the upstream.
func TestEdges_ParamDotSegmentsRefused(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, sim.Options{})
	p := startProxy(t, testConfig([]string{up.URL()}, []string{upKeyA}))
	host := strings.TrimPrefix(p.base, "http://")
	for _, target := range []string{
		"/v1/..;/..;/admin",
		"/v1/models/..;/..;/x",
		"/v1/.;/chat/completions",
		"/v1/..;jsessionid=1/x",
		"/v1/%2e%2e;/x",
		"/v1/.%2e;a=b/x",
	} {
		status, _, body := edgeRaw(t, p.base, edgePost(target, host, openAIBody))
		if status != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404 (%.200s)", target, status, body)
		}
	}
	wantCount(t, "upstream", up, 0)
	// A ";" that is no dot segment is an ordinary path byte and passes.
	if status, _, body := edgeRaw(t, p.base, edgePost("/v1/chat/completions;v=1", host, openAIBody)); status == http.StatusNotFound && strings.Contains(body, "not found") && up.Count() == 0 {
		t.Errorf("a plain ';' was refused: %d %s", status, body)
	}
}
