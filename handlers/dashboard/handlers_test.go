package dashboard

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/llm-proxy/llm-proxy/stats"
)

func TestPage_NoSessionShowsLogin(t *testing.T) {
	ta := newTestApp(t)
	resp := ta.do(t, httptest.NewRequest(http.MethodGet, "/", nil))
	b := body(t, resp)
	if got, want := resp.StatusCode, http.StatusOK; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	if !strings.Contains(b, `action="/login"`) || !strings.Contains(b, `type="password"`) || !strings.Contains(b, `name="key"`) {
		t.Error("GET / without a session is not the login form")
	}
	if strings.Contains(b, `data-testid="total-requests"`) {
		t.Error("GET / without a session shows the dashboard")
	}
	if strings.Contains(b, `id="err-invalid" data-i18n="invalid_key">`) {
		t.Error("the login form shows an error without ?error=1")
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, "text/html") {
		t.Errorf("Content-Type = %q, want text/html", got)
	}
	// A bogus cookie is no session either.
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: "forged"})
	if b := body(t, ta.do(t, req)); strings.Contains(b, `data-testid="total-requests"`) {
		t.Error("a forged session cookie shows the dashboard")
	}
}

func TestStatsJSON_Auth(t *testing.T) {
	ta := newTestApp(t)
	ta.rec.Record(sampleEvent("gpt-test"))
	cookie := ta.loginCookie(t)

	tests := []struct {
		name   string
		auth   string
		cookie *http.Cookie
		want   int
	}{
		{"nothing", "", nil, http.StatusUnauthorized},
		{"wrong bearer", "Bearer nope", nil, http.StatusUnauthorized},
		{"key without scheme", testKey, nil, http.StatusUnauthorized},
		{"basic scheme", "Basic " + testKey, nil, http.StatusUnauthorized},
		{"bearer", "Bearer " + testKey, nil, http.StatusOK},
		{"bearer lower-case scheme", "bearer " + testKey, nil, http.StatusOK},
		{"second key", "Bearer " + testKey2, nil, http.StatusOK},
		{"session", "", cookie, http.StatusOK},
		{"forged session", "", &http.Cookie{Name: SessionCookie, Value: "x"}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/api/stats", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			if tt.cookie != nil {
				req.AddCookie(tt.cookie)
			}
			resp := ta.do(t, req)
			b := body(t, resp)
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, tt.want, b)
			}
			if strings.Contains(b, testKey) || strings.Contains(b, testKey2) {
				t.Error("response contains a key")
			}
			if tt.want == http.StatusUnauthorized {
				if b != `{"error":"unauthorized"}` {
					t.Errorf("body = %s, want {\"error\":\"unauthorized\"}", b)
				}
				return
			}
			var snap struct {
				StartTime string `json:"start_time"`
				Totals    struct {
					Requests int64 `json:"requests"`
				} `json:"totals"`
				Targets []json.RawMessage `json:"targets"`
				Recent  []struct {
					Model string `json:"model"`
				} `json:"recent"`
			}
			if err := json.Unmarshal([]byte(b), &snap); err != nil {
				t.Fatalf("body is not a snapshot: %v", err)
			}
			if snap.Totals.Requests != 1 || snap.StartTime == "" || len(snap.Targets) != 3 {
				t.Errorf("snapshot = %+v, want 1 request, a start time and 3 targets", snap)
			}
		})
	}
}

func TestLogin_WrongKeyIsGeneric(t *testing.T) {
	ta := newTestApp(t)
	for _, key := range []string{"wrong", "", testKey + "x", testKey[:len(testKey)-1]} {
		resp := ta.do(t, loginRequest(key))
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("key %q: status = %d, want 303", key, resp.StatusCode)
		}
		if got := resp.Header.Get("Location"); got != "/?error=1" {
			t.Errorf("key %q: Location = %q, want /?error=1", key, got)
		}
		if len(resp.Cookies()) != 0 {
			t.Errorf("key %q: a failed login set a cookie", key)
		}
	}
	resp := ta.do(t, httptest.NewRequest(http.MethodGet, "/?error=1", nil))
	b := body(t, resp)
	if !strings.Contains(b, `id="err-invalid" data-i18n="invalid_key">Invalid key<`) {
		t.Error("/?error=1 does not show the visible generic error")
	}
	if !strings.Contains(b, `id="err-throttled" data-i18n="too_many" hidden`) {
		t.Error("/?error=1 shows the throttle message")
	}
	if strings.Contains(b, `data-testid="total-requests"`) {
		t.Error("/?error=1 shows the dashboard")
	}
	if logs := ta.logs.String(); strings.Contains(logs, "wrong") || strings.Contains(logs, testKey) {
		t.Errorf("logs contain a submitted key:\n%s", logs)
	}
}

func TestLogin_CookieFlags(t *testing.T) {
	tests := []struct {
		name       string
		header     string
		wantSecure bool
	}{
		{"plain http", "", false},
		{"behind TLS proxy", "https", true},
		{"behind TLS proxy, list", "https, http", true},
		{"proxy says http", "http", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ta := newTestApp(t, func(c *Config, _ *stats.Options) { c.SessionTTL = time.Hour })
			req := loginRequest(testKey)
			req.Header.Set("Origin", "http://example.com")
			if tt.header != "" {
				req.Header.Set("X-Forwarded-Proto", tt.header)
			}
			resp := ta.do(t, req)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
				t.Fatalf("status %d Location %q, want 303 /", resp.StatusCode, resp.Header.Get("Location"))
			}
			raw := resp.Header.Get("Set-Cookie")
			lower := strings.ToLower(raw)
			for _, want := range []string{"httponly", "samesite=strict", "path=/", "max-age=3600"} {
				if !strings.Contains(lower, want) {
					t.Errorf("Set-Cookie %q lacks %s", raw, want)
				}
			}
			if got := strings.Contains(lower, "secure"); got != tt.wantSecure {
				t.Errorf("Set-Cookie %q: secure = %v, want %v", raw, got, tt.wantSecure)
			}
			if strings.Contains(raw, testKey) {
				t.Error("the cookie contains the key")
			}
			c := resp.Cookies()[0]
			if len(c.Value) != 43 { // 32 bytes, base64url without padding
				t.Errorf("token length = %d, want 43", len(c.Value))
			}
			req = httptest.NewRequest(http.MethodGet, "/", nil)
			req.AddCookie(c)
			if b := body(t, ta.do(t, req)); !strings.Contains(b, `data-testid="total-requests"`) {
				t.Error("GET / with the new session is not the dashboard")
			}
		})
	}
}

func TestLogin_Origin(t *testing.T) {
	ta := newTestApp(t)
	tests := []struct {
		origin, fwdHost string
		want            int
		fetchSite       string
	}{
		{"", "", http.StatusSeeOther, ""},
		{"http://example.com", "", http.StatusSeeOther, ""},
		{"https://example.com", "", http.StatusSeeOther, ""},
		{"http://EXAMPLE.com:80", "", http.StatusSeeOther, ""},
		{"https://dash.example.org", "dash.example.org", http.StatusSeeOther, ""},
		{"https://dash.example.org", "dash.example.org, internal", http.StatusSeeOther, ""},
		{"http://evil.example", "", http.StatusForbidden, ""},
		{"http://example.com.evil.example", "", http.StatusForbidden, ""},
		{"http://example.com:8080", "", http.StatusForbidden, ""},
		{"null", "", http.StatusSeeOther, "same-origin"}, // a same-origin form under Referrer-Policy: no-referrer
		{"null", "", http.StatusForbidden, "cross-site"},
		{"", "", http.StatusForbidden, "cross-site"},
		{"https://evil.example", "dash.example.org", http.StatusForbidden, ""},
	}
	for _, tt := range tests {
		for _, path := range []string{"/login", "/logout"} {
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader("key="+testKey))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			if tt.fwdHost != "" {
				req.Header.Set("X-Forwarded-Host", tt.fwdHost)
			}
			if tt.fetchSite != "" {
				req.Header.Set("Sec-Fetch-Site", tt.fetchSite)
			}
			resp := ta.do(t, req)
			if resp.StatusCode != tt.want {
				t.Errorf("%s Origin %q X-Forwarded-Host %q: status = %d, want %d", path, tt.origin, tt.fwdHost, resp.StatusCode, tt.want)
			}
			if tt.want == http.StatusForbidden && len(resp.Cookies()) != 0 {
				t.Errorf("%s Origin %q: refused request set a cookie", path, tt.origin)
			}
		}
	}
}

func TestLogin_Throttled(t *testing.T) {
	ta := newTestApp(t, func(c *Config, _ *stats.Options) { c.LoginRate = 3 })
	for i := range 3 {
		if got := ta.do(t, loginRequest("wrong")).StatusCode; got != http.StatusSeeOther {
			t.Fatalf("attempt %d: status = %d, want 303", i+1, got)
		}
	}
	// Over the limit, even the right key is refused.
	resp := ta.do(t, loginRequest(testKey))
	b := body(t, resp)
	if got, want := resp.StatusCode, http.StatusTooManyRequests; got != want {
		t.Fatalf("4th attempt: status = %d, want %d", got, want)
	}
	if len(resp.Cookies()) != 0 {
		t.Error("a throttled login set a cookie")
	}
	if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q, want seconds", ra)
	}
	if !strings.Contains(b, `id="err-throttled" data-i18n="too_many">`) {
		t.Error("the 429 page does not show the throttle message")
	}
	if !strings.Contains(ta.logs.String(), "login throttled") {
		t.Error("throttling is not logged")
	}
}

func TestLogout(t *testing.T) {
	ta := newTestApp(t)
	cookie := ta.loginCookie(t)
	req := httptest.NewRequest(http.MethodPost, "/logout", nil)
	req.Header.Set("Origin", "http://example.com")
	req.AddCookie(cookie)
	resp := ta.do(t, req)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("logout: status %d Location %q, want 303 /", resp.StatusCode, resp.Header.Get("Location"))
	}
	raw := strings.ToLower(resp.Header.Get("Set-Cookie"))
	if !strings.Contains(raw, SessionCookie+"=;") || !(strings.Contains(raw, "max-age=0") || strings.Contains(raw, "expires=thu, 01 jan 1970")) {
		t.Errorf("logout Set-Cookie = %q, want a cleared, expired cookie", raw)
	}
	if n := ta.d.sessions.len(); n != 0 {
		t.Errorf("sessions after logout = %d, want 0", n)
	}
	// The old cookie no longer works anywhere.
	req = httptest.NewRequest(http.MethodGet, "/api/stats", nil)
	req.AddCookie(cookie)
	if got := ta.do(t, req).StatusCode; got != http.StatusUnauthorized {
		t.Errorf("/api/stats after logout: status = %d, want 401", got)
	}
	req = httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(cookie)
	if b := body(t, ta.do(t, req)); strings.Contains(b, `data-testid="total-requests"`) {
		t.Error("/ after logout still shows the dashboard")
	}
}

func TestSecurityHeaders(t *testing.T) {
	ta := newTestApp(t)
	cookie := ta.loginCookie(t)
	for _, path := range []string{"/", "/?error=1", "/assets/app.js", "/api/stats", "/ws"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.AddCookie(cookie)
		resp := ta.do(t, req)
		want := map[string]string{
			"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "no-referrer",
			"X-Content-Type-Options":  "nosniff",
		}
		for h, v := range want {
			if got := resp.Header.Get(h); got != v {
				t.Errorf("%s: %s = %q, want %q", path, h, got, v)
			}
		}
	}
}

func TestSecurityHeaders_NotOnProxyRoutes(t *testing.T) {
	ta := newTestApp(t)
	resp := ta.do(t, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil))
	if got := resp.Header.Get("Content-Security-Policy"); got != "" {
		t.Errorf("/v1 response has CSP %q: the documented wiring leaks dashboard middleware onto the proxy", got)
	}
}

var (
	scriptTag   = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	handlerAttr = regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`)
	styleAttr   = regexp.MustCompile(`(?i)<[^>]+\sstyle\s*=`)
	jsURL       = regexp.MustCompile(`(?i)javascript:`)
)

// checkNoInline fails when page has inline script or style of any kind, or
// a resource from another origin.
func checkNoInline(t *testing.T, name, page string) {
	t.Helper()
	scripts := scriptTag.FindAllStringSubmatch(page, -1)
	if len(scripts) == 0 {
		t.Errorf("%s: no script at all", name)
	}
	for _, m := range scripts {
		if !strings.Contains(m[1], `src="/assets/`) || strings.TrimSpace(m[2]) != "" {
			t.Errorf("%s: inline script %q", name, m[0])
		}
	}
	if handlerAttr.MatchString(page) {
		t.Errorf("%s: inline event handler attribute", name)
	}
	if styleAttr.MatchString(page) || strings.Contains(strings.ToLower(page), "<style") {
		t.Errorf("%s: inline style", name)
	}
	if jsURL.MatchString(page) {
		t.Errorf("%s: javascript: URL", name)
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") || strings.Contains(page, `src="//`) {
		t.Errorf("%s: refers to another origin (CDN?)", name)
	}
	if strings.Contains(page, versionMarker) {
		t.Errorf("%s: version marker left in the page", name)
	}
}

func TestPage_HooksAndNoInlineScript(t *testing.T) {
	ta := newTestApp(t)
	cookie := ta.loginCookie(t)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(cookie)
	page := body(t, ta.do(t, req))
	for _, hook := range []string{"total-requests", "success-count", "failure-count", "success-rate", "rate-limit-count", "uptime"} {
		if !strings.Contains(page, `data-testid="`+hook+`"`) {
			t.Errorf("dashboard lacks data-testid=%q", hook)
		}
	}
	for _, want := range []string{`action="/logout"`, `method="post"`, `id="chart"`, `<canvas`, `id="lang-toggle"`, "/assets/app.js?v=" + ta.d.site.version} {
		if !strings.Contains(page, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	checkNoInline(t, "dashboard", page)
	checkNoInline(t, "login", body(t, ta.do(t, httptest.NewRequest(http.MethodGet, "/", nil))))
	checkNoInline(t, "login error", body(t, ta.do(t, httptest.NewRequest(http.MethodGet, "/?error=1", nil))))
}

func TestAssets(t *testing.T) {
	ta := newTestApp(t)
	v := ta.d.site.version
	tests := []struct {
		path, wantType, wantCache string
		want                      int
	}{
		{"/assets/app.js", "text/javascript", "no-cache", 200},
		{"/assets/app.js?v=" + v, "text/javascript", "immutable", 200},
		{"/assets/app.js?v=stale", "text/javascript", "no-cache", 200},
		{"/assets/app.css?v=" + v, "text/css", "immutable", 200},
		{"/assets/favicon.svg", "image/svg+xml", "no-cache", 200},
		{"/assets/index.html", "", "", 404},
		{"/assets/login.html", "", "", 404},
		{"/assets/embed.go", "", "", 404},
		{"/assets/../embed.go", "", "", 404},
		{"/assets/", "", "", 404},
		{"/assets/nope.js", "", "", 404},
	}
	for _, tt := range tests {
		resp := ta.do(t, httptest.NewRequest(http.MethodGet, tt.path, nil))
		b := body(t, resp)
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status = %d, want %d", tt.path, resp.StatusCode, tt.want)
			continue
		}
		if tt.want != 200 {
			continue
		}
		if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, tt.wantType) {
			t.Errorf("%s: Content-Type = %q, want %s", tt.path, got, tt.wantType)
		}
		if got := resp.Header.Get("Cache-Control"); !strings.Contains(got, tt.wantCache) {
			t.Errorf("%s: Cache-Control = %q, want %s", tt.path, got, tt.wantCache)
		}
		if len(b) == 0 {
			t.Errorf("%s: empty body", tt.path)
		}
		etag := resp.Header.Get("ETag")
		req := httptest.NewRequest(http.MethodGet, tt.path, nil)
		req.Header.Set("If-None-Match", etag)
		if got := ta.do(t, req).StatusCode; etag == "" || got != http.StatusNotModified {
			t.Errorf("%s: If-None-Match %q: status = %d, want 304", tt.path, etag, got)
		}
	}
}

func TestUpgrade_RefusedBeforeUpgrade(t *testing.T) {
	ta := newTestApp(t)
	cookie := ta.loginCookie(t)
	upgrade := func(req *http.Request) {
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	}
	tests := []struct {
		name     string
		session  bool
		origin   string
		fwdHost  string
		upgrade  bool
		want     int
		wantBody string
	}{
		{"no session", false, "http://example.com", "", true, 401, `{"error":"unauthorized"}`},
		{"no session, no upgrade", false, "", "", false, 401, `{"error":"unauthorized"}`},
		{"foreign origin", true, "http://evil.example", "", true, 403, ""},
		{"no origin", true, "", "", true, 403, ""},
		{"forwarded host mismatch", true, "https://dash.example.org", "other.example.org", true, 403, ""},
		{"plain GET", true, "http://example.com", "", false, 426, ""},
		{"plain GET via forwarded host", true, "https://dash.example.org", "dash.example.org", false, 426, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/ws", nil)
			if tt.session {
				req.AddCookie(cookie)
			}
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			if tt.fwdHost != "" {
				req.Header.Set("X-Forwarded-Host", tt.fwdHost)
			}
			if tt.upgrade {
				upgrade(req)
			}
			resp := ta.do(t, req)
			b := body(t, resp)
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, tt.want, b)
			}
			if tt.wantBody != "" && b != tt.wantBody {
				t.Errorf("body = %s, want %s", b, tt.wantBody)
			}
		})
	}
}

func TestKeysNeverLogged(t *testing.T) {
	ta := newTestApp(t)
	ta.loginCookie(t)
	ta.do(t, loginRequest("a-wrong-guess"))
	req := httptest.NewRequest(http.MethodGet, "/api/stats", nil)
	req.Header.Set("Authorization", "Bearer "+testKey2)
	ta.do(t, req)
	logs := ta.logs.String()
	if !strings.Contains(logs, "dashboard: login") {
		t.Fatalf("expected login log lines, got:\n%s", logs)
	}
	for _, k := range []string{testKey, testKey2, "a-wrong-guess"} {
		if strings.Contains(logs, k) {
			t.Errorf("logs contain %q:\n%s", k, logs)
		}
	}
}

func TestNew_Defaults(t *testing.T) {
	d := New(Config{Keys: []string{"", "k"}})
	if d.ttl != DefaultSessionTTL {
		t.Errorf("ttl = %v, want %v", d.ttl, DefaultSessionTTL)
	}
	if got, want := d.limiter.burst, float64(DefaultLoginRate); got != want {
		t.Errorf("login burst = %v, want %v", got, want)
	}
	if len(d.keys) != 1 || d.keyOK("") || !d.keyOK("k") || d.keyOK("K") {
		t.Error("empty keys must be ignored and the others matched exactly")
	}
	// Without a Recorder the handlers answer instead of crashing.
	app := fiber.New()
	wire(app, d)
	req := httptest.NewRequest(http.MethodGet, "/api/stats", nil)
	req.Header.Set("Authorization", "Bearer k")
	resp, err := app.Test(req)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/api/stats without recorder: %v, %v; want 503", resp.StatusCode, err)
	}
}
