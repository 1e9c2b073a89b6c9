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
	"strconv"
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
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body
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

// rawUpstream is an upstream that answers every request with the bytes
// answer returns, then closes the connection. It returns its /v1 base URL.
func rawUpstream(t *testing.T, answer func() string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				_, _ = io.WriteString(c, answer())
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/v1"
}

// Finding 9: headers the upstream names in Connection are hop-by-hop and
// not relayed; an upstream Set-Cookie never reaches the client (it would
// land on the dashboard's site); a status outside 100–599 ("000") is a
// failed attempt, never relayed as 200 OK.
func TestEdges_UpstreamResponseHygiene(t *testing.T) {
	t.Parallel()
	t.Run("headers", func(t *testing.T) {
		t.Parallel()
		body := `{"id":"x","object":"chat.completion","choices":[]}`
		up := rawUpstream(t, func() string {
			return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close, X-Hop-Secret\r\nX-Hop-Secret: internal-123\r\n" +
				"Set-Cookie: session=upstream; Path=/\r\nX-Request-Id: keep-me\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
		})
		p := startProxy(t, testConfig([]string{up}, []string{upKeyA}))
		a := p.call(request{path: "/v1/chat/completions", body: openAIBody})
		wantStatus(t, a, 200)
		if v := a.header.Get("X-Hop-Secret"); v != "" {
			t.Errorf("a header named in the upstream's Connection was relayed: %q", v)
		}
		if v := a.header.Values("Set-Cookie"); len(v) != 0 {
			t.Errorf("the upstream's Set-Cookie was relayed: %q", v)
		}
		if v := a.header.Get("X-Request-Id"); v != "keep-me" {
			t.Errorf("an end-to-end header was dropped: X-Request-Id = %q", v)
		}
	})
	for _, status := range []string{"000", "099", "600"} {
		t.Run("status "+status, func(t *testing.T) {
			t.Parallel()
			up := rawUpstream(t, func() string {
				return "HTTP/1.1 " + status + " OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
			})
			cfg := testConfig([]string{up}, []string{upKeyA})
			cfg.MaxRetries = 1
			p := startProxy(t, cfg)
			for _, f := range families {
				a := p.call(f.req(f.body))
				if a.status == 200 {
					t.Fatalf("%s: status %s relayed as 200: %s", f.name, status, a.body)
				}
				wantStatus(t, a, http.StatusBadGateway)
				wantErrorShape(t, f, a.body, "")
			}
			if ev := p.event(1); len(ev.Attempts) != 2 || ev.Attempts[0].Reason != "connect_error" {
				t.Errorf("attempts = %v, want two failed attempts", trail(ev))
			}
		})
	}
}

// Finding 2: one 429 with Retry-After: 86400 took the only target out for
// a day. The cooldown is cut to MAX_COOLDOWN, the snapshot says so, and the
// target serves again once the cap has passed.
func TestEdges_RetryAfterCappedByMaxCooldown(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, sim.Options{})
	cfg := testConfig([]string{up.URL()}, []string{upKeyA})
	cfg.MaxRetries = 0
	cfg.MaxCooldown = time.Second
	cfg.MaxCooldownWait = 0
	p := startProxy(t, cfg)
	up.Push(sim.Step{Status: 429, Header: map[string]string{"Retry-After": "86400"}, Body: sim.OpenAIError("rate_limit_error", "Rate limit reached")})
	start := time.Now()
	wantStatus(t, p.call(request{path: "/v1/chat/completions", body: openAIBody}), 429)

	snap := p.app.Recorder().Snapshot()
	if len(snap.Targets) != 1 || snap.Targets[0].CoolingUntil == nil {
		t.Fatalf("targets = %+v, want one cooling target", snap.Targets)
	}
	if until := *snap.Targets[0].CoolingUntil; until.After(start.Add(cfg.MaxCooldown + time.Second)) {
		t.Errorf("cooling until %v: more than MAX_COOLDOWN (%v) from the 429", until, cfg.MaxCooldown)
	}
	c := snap.Targets[0].CooldownCapped
	if c == nil || c.AskedSeconds != 86400 || c.CappedSeconds != 1 {
		t.Fatalf("cooldown_capped = %+v, want asked 86400 s, capped 1 s", c)
	}
	// Bounded wait for the cap to pass, then the target serves again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		a := p.call(request{path: "/v1/chat/completions", body: openAIBody})
		if a.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d five seconds after a 1 s cap", a.status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
