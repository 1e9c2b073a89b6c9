package app

// The attacks of the "hardened edges" issue (#11), one test per finding, run
// against a real proxy on a loopback port: pre-auth body floods, slow
// headers, key guessing, request echo, key echo, path-parameter tricks and
// hostile upstream answers.

import (
	"bufio"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	_ "modernc.org/sqlite" // to damage the store under a running proxy

	"github.com/llm-proxy/llm-proxy/handlers"
	"github.com/llm-proxy/llm-proxy/internal/testkit"
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

// Finding 10, second half: the store's write errors went to slog.Default()
// and ignored LOG_FORMAT=json. They go through the app's logger.
func TestEdges_StoreWriteErrorsUseAppLogger(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, sim.Options{ChunkInterval: -1})
	cfg := testConfig([]string{up.URL()}, []string{upKeyA})
	cfg.DBPath = filepath.Join(t.TempDir(), "stats.db")
	cfg.FlushInterval = 50 * time.Millisecond
	cfg.LogFormat = "json"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &testkit.SyncBuffer{}
	a, err := New(cfg, slog.New(slog.NewJSONHandler(logs, nil)), "test")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()

	// Break the table under the running store.
	db, err := sql.Open("sqlite", cfg.DBPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("DROP TABLE request_batches"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	p := &proxy{t: t, app: a, base: "http://" + ln.Addr().String(), logs: logs, client: &http.Client{Timeout: 10 * time.Second}}
	wantStatus(t, p.call(request{path: "/v1/chat/completions", body: openAIBody}), 200)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), `"msg":"stats store: write failed"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no JSON log line for the failed write within 5 s; log:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// jsonEscapeAll writes every character of s as a JSON \u00XX escape.
func jsonEscapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteString(`\u00`)
		b.WriteString(strconv.FormatInt(int64(s[i])>>4, 16))
		b.WriteString(strconv.FormatInt(int64(s[i])&15, 16))
	}
	return b.String()
}

// Finding 5: the upstream key echoed by an upstream never reaches the
// client — not in a response header, a 2xx body, a stream chunk (a key
// split across chunks included), an error event mid-stream, a \u-escaped
// error body, nor a gzip, br or deflate compressed one.
func TestEdges_UpstreamKeyRedactedEverywhere(t *testing.T) {
	t.Parallel()
	key := upKeyA
	half := len(key) / 2
	errJSON := sim.OpenAIError("invalid_request_error", "Incorrect API key provided: "+key)
	cases := []struct {
		name   string
		stream bool
		step   sim.Step
	}{
		{"response header", false, sim.Step{Header: map[string]string{"X-Debug-Key": "Bearer " + key}, Body: `{"id":"a","choices":[]}`}},
		{"2xx body", false, sim.Step{Body: `{"id":"a","choices":[{"message":{"content":"you sent ` + key + `"}}]}`}},
		{"escaped error body", false, sim.Step{Status: 401, Body: `{"error":{"message":"Incorrect API key provided: ` + jsonEscapeAll(key) + `"}}`}},
		{"gzip error body", false, sim.Step{Status: 401, Header: map[string]string{"Content-Encoding": "gzip"}, Body: string(fasthttp.AppendGzipBytes(nil, []byte(errJSON)))}},
		{"br error body", false, sim.Step{Status: 401, Header: map[string]string{"Content-Encoding": "br"}, Body: string(fasthttp.AppendBrotliBytes(nil, []byte(errJSON)))}},
		{"deflate error body", false, sim.Step{Status: 401, Header: map[string]string{"Content-Encoding": "deflate"}, Body: string(fasthttp.AppendDeflateBytes(nil, []byte(errJSON)))}},
		{"stream chunks", true, sim.Step{Events: []string{
			sim.OpenAIChunk("hi"),
			`data: {"choices":[{"delta":{"content":"` + key[:half], key[half:] + `"}}]}` + "\n\n",
			"data: [DONE]\n\n",
		}, Interval: 20 * time.Millisecond}},
		{"error event mid-stream", true, sim.Step{Events: []string{
			sim.OpenAIChunk("hi"),
			sim.OpenAIErrorEvent("invalid_request_error", "key "+key+" was revoked"),
		}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, sim.Options{})
			cfg := testConfig([]string{up.URL()}, []string{key})
			cfg.MaxRetries = 0
			p := startProxy(t, cfg)
			up.Push(tc.step)
			body := openAIBody
			if tc.stream {
				body = openAIStreamBody
			}
			a := p.call(request{path: "/v1/chat/completions", body: body})
			seen := string(a.body)
			for k, vs := range a.header {
				seen += "\n" + k + ": " + strings.Join(vs, ",")
			}
			if strings.Contains(seen, key) || strings.Contains(seen, key[:half]) && strings.Contains(seen, key[half:]) {
				t.Fatalf("the upstream key reached the client:\n%s", seen)
			}
			if !strings.Contains(seen, "[redacted]") {
				t.Errorf("no [redacted] mark where the key was:\n%s", seen)
			}
		})
	}
}

// Finding 3: key guessing was free on /v1/* and /api/stats. After
// AUTH_FAIL_BURST failures a client address gets 429 in the family's shape
// on every route, counted in /metrics and logged at a bounded pace; behind
// TRUSTED_PROXY_HEADER the address is the right-most untrusted entry, so a
// guesser cannot escape by writing a new left-most one each time.
func TestEdges_KeyGuessingThrottled(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, sim.Options{})
	cfg := testConfig([]string{up.URL()}, []string{upKeyA})
	cfg.AuthFailBurst = 5
	cfg.AuthFailRate = 1
	cfg.ProxyHeader = "X-Forwarded-For"
	p := startProxy(t, cfg)
	guess := func(path, method string, i int, from string) answer {
		return p.call(request{method: method, path: path, body: map[bool]string{true: openAIBody}[method == ""],
			key: "guess-" + strconv.Itoa(i), header: map[string]string{"X-Forwarded-For": "198.51.100." + strconv.Itoa(i%200) + ", " + from}})
	}
	for i := range 5 {
		wantStatus(t, guess("/v1/chat/completions", "", i, "203.0.113.7"), 401)
	}
	for i, route := range []struct{ path, method, fam string }{
		{"/v1/chat/completions", "", "openai"},
		{"/v1/messages", "", "anthropic"},
		{"/api/stats", http.MethodGet, "openai"},
	} {
		a := guess(route.path, route.method, 10+i, "203.0.113.7")
		wantStatus(t, a, http.StatusTooManyRequests)
		if got := errorMessage(t, route.fam, a.body); got != handlers.MsgAuthThrottled {
			t.Errorf("%s: message %q", route.path, got)
		}
		if a.header.Get("Retry-After") == "" {
			t.Errorf("%s: no Retry-After", route.path)
		}
	}
	// The right key from the throttled address is refused too (no oracle);
	// another address is not affected.
	wantStatus(t, p.call(request{path: "/v1/chat/completions", body: openAIBody, header: map[string]string{"X-Forwarded-For": "203.0.113.7"}}), 429)
	wantStatus(t, p.call(request{path: "/v1/chat/completions", body: openAIBody, header: map[string]string{"X-Forwarded-For": "203.0.113.8"}}), 200)
	wantCount(t, "upstream", up, 1)

	m := p.call(request{method: http.MethodGet, path: "/metrics"})
	for _, want := range []string{"llmproxy_auth_failures_total 5", "llmproxy_auth_throttled_total 4"} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if n := strings.Count(p.logs.String(), "msg=\"failed authentication\""); n != 1 {
		t.Errorf("%d log lines about failed authentication, want 1 (rate-limited)", n)
	}
}

// Finding 4: the 400 for a malformed request quoted the raw request, the
// client's key and a front proxy's secret header included.
func TestEdges_MalformedRequestNotEchoed(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, sim.Options{})
	p := startProxy(t, testConfig([]string{up.URL()}, []string{upKeyA}))
	const secret = "front-proxy-secret-Zq81"
	for _, raw := range []string{
		"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + clientKey + "\r\nX-Front-Secret: " + secret + "\r\nbroken header line\r\n\r\n",
		"POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: " + clientKey + "\r\nContent-Length: 1x" + secret + "\r\n\r\n",
	} {
		status, _, body := edgeRaw(t, p.base, raw)
		if status != http.StatusBadRequest {
			t.Errorf("status %d, want 400: %s", status, body)
		}
		low := strings.ToLower(body)
		for _, s := range []string{clientKey, secret, "bearer", "x-api-key"} {
			if strings.Contains(low, strings.ToLower(s)) {
				t.Errorf("the 400 echoes %q: %s", s, body)
			}
		}
	}
	wantCount(t, "upstream", up, 0)
}
