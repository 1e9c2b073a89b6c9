package dashboard

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/llm-proxy/llm-proxy/internal/testkit"
	"github.com/llm-proxy/llm-proxy/stats"
)

const (
	testKey  = "dash-key-0123456789"
	testKey2 = "second-key-abcdef"
)

type testApp struct {
	app  *fiber.App
	d    *Dashboard
	rec  *stats.Recorder
	logs *testkit.SyncBuffer
	base string // http://127.0.0.1:port once listening
}

type appOption func(*Config, *stats.Options)

// newTestApp builds a Recorder, a Dashboard and a Fiber app wired the way the
// app package wires them (see the package doc).
func newTestApp(t *testing.T, opts ...appOption) *testApp {
	t.Helper()
	logs := &testkit.SyncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	so := stats.Options{BatchInterval: 20 * time.Millisecond, Logger: logger, Targets: testTargets}
	cfg := Config{Keys: []string{testKey, testKey2}, Logger: logger}
	for _, o := range opts {
		o(&cfg, &so)
	}
	rec, err := stats.NewRecorder(so)
	if err != nil {
		t.Fatalf("NewRecorder: %v", err)
	}
	cfg.Recorder = rec
	d := New(cfg)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	wire(app, d)
	ta := &testApp{app: app, d: d, rec: rec, logs: logs}
	t.Cleanup(func() {
		d.Close()
		if ta.base != "" {
			_ = app.ShutdownWithTimeout(3 * time.Second)
		}
		_ = rec.Close()
	})
	return ta
}

// wire mounts the dashboard exactly as documented for the app package, next
// to a stand-in for the proxy route.
func wire(app *fiber.App, d *Dashboard) {
	sec := d.SecurityHeaders()
	app.Get("/", sec, d.Page)
	app.Post("/login", sec, d.Login)
	app.Post("/logout", sec, d.Logout)
	app.Get("/assets/*", sec, d.Assets())
	app.Get("/api/stats", sec, d.StatsJSON)
	app.Get("/ws", sec, d.Upgrade, d.Live())
	app.Post("/v1/chat/completions", func(c *fiber.Ctx) error { return c.SendString("{}") })
}

// listen serves the app on 127.0.0.1:0 and returns its base URL.
func (ta *testApp) listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	go func() { _ = ta.app.Listener(ln) }()
	ta.base = "http://" + ln.Addr().String()
	return ta.base
}

// do runs one request through app.Test; target must be a path ("/x").
func (ta *testApp) do(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	resp, err := ta.app.Test(req, 5000)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return string(b)
}

func loginRequest(key string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(url.Values{"key": {key}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// loginCookie logs in through app.Test and returns the session cookie.
func (ta *testApp) loginCookie(t *testing.T) *http.Cookie {
	t.Helper()
	resp := ta.do(t, loginRequest(testKey))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: status %d, want 303", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie && c.Value != "" {
			return c
		}
	}
	t.Fatal("login: no session cookie")
	return nil
}

// httpLogin logs in against the real listener with a cookie jar and returns the client.
func httpLogin(t *testing.T, base, key string) (*http.Client, []*http.Cookie) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	resp, err := cl.PostForm(base+"/login", url.Values{"key": {key}})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !strings.Contains(string(b), `data-testid="total-requests"`) {
		t.Fatalf("after login, / is not the dashboard (status %d)", resp.StatusCode)
	}
	u, _ := url.Parse(base)
	return cl, jar.Cookies(u)
}

var testTargetsNow = time.Now()

func testTargets() []stats.TargetState {
	until := time.Now().Add(42 * time.Second)
	at := testTargetsNow.Add(-3 * time.Second)
	return []stats.TargetState{
		{Name: "openai-1 (api.example.com)", State: "ok"},
		{Name: "openai-2 (api.example.com)", State: "cooling", CoolingUntil: &until, LastError: "rate_limit 429", LastErrorAt: &at},
		{Name: "relay (relay.example.net)", State: "ok", LastError: "server_error 503", LastErrorAt: &at},
	}
}

// sampleEvent is a successful, retried streaming request.
func sampleEvent(model string) *stats.Event {
	return &stats.Event{
		Time:    time.Now(),
		Method:  "POST",
		Route:   "/v1/chat/completions",
		Family:  stats.FamilyOpenAI,
		Model:   model,
		Stream:  true,
		Status:  200,
		Outcome: stats.OutcomeOK,
		Target:  "openai-2",
		Attempts: []stats.Attempt{
			{Target: "openai-1", Status: 429, Reason: "rate_limit", DurationMs: 12},
			{Target: "openai-2", Status: 200, Reason: "ok", DurationMs: 80},
		},
		RateLimits:   1,
		LatencyMs:    812,
		TTFBMs:       95,
		InputTokens:  1200,
		OutputTokens: 345,
		Terminal:     true,
	}
}

// waitFor polls cond every 10ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
