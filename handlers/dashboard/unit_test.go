package dashboard

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestLoginLimiter_Allow(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := newLoginLimiter(10, time.Minute, clk.now)
	for i := range 10 {
		if ok, _ := l.allow("a"); !ok {
			t.Fatalf("attempt %d refused, want the burst of 10 allowed", i+1)
		}
	}
	ok, wait := l.allow("a")
	if ok {
		t.Fatal("11th attempt allowed")
	}
	if wait <= 0 || wait > 6*time.Second {
		t.Errorf("wait = %v, want about 6s (one token)", wait)
	}
	if ok, _ := l.allow("b"); !ok {
		t.Error("another address is throttled too")
	}
	clk.add(6 * time.Second)
	if ok, _ := l.allow("a"); !ok {
		t.Error("no token after 6s")
	}
	if ok, _ := l.allow("a"); ok {
		t.Error("two tokens after 6s")
	}
}

// Finding 3 of the hardening issue: when the limiter's table filled, it was
// reset whole, and every throttled address got a fresh budget. Now the
// least recently seen address is dropped; a throttled one stays throttled.
func TestLoginLimiter_FullTableKeepsThrottledAddress(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := newLoginLimiter(3, time.Minute, clk.now)
	for range 3 {
		l.allow("guesser")
	}
	if ok, _ := l.allow("guesser"); ok {
		t.Fatal("the burst of 3 is used up")
	}
	for i := range 2 * maxLimiterClients {
		l.allow("other-" + strconv.Itoa(i))
		if i%1000 == 0 {
			l.allow("guesser") // still active, so never the least recent
		}
	}
	if ok, _ := l.allow("guesser"); ok {
		t.Error("filling the table gave the throttled address a fresh budget")
	}
	if n := l.m.Len(); n > maxLimiterClients {
		t.Errorf("table holds %d addresses, bound %d", n, maxLimiterClients)
	}
}

func TestSessionStore_Expiry(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	s := newSessionStore(time.Hour, clk.now)
	tok := s.create()
	tok2 := s.create()
	if tok == tok2 {
		t.Fatal("two sessions got the same token")
	}
	if !s.valid(hashToken(tok)) {
		t.Fatal("a new session is not valid")
	}
	if s.valid(hashToken(tok + "x")) {
		t.Fatal("an unknown token is valid")
	}
	clk.add(time.Hour - time.Nanosecond)
	if !s.valid(hashToken(tok)) {
		t.Fatal("a session expired early")
	}
	clk.add(time.Nanosecond)
	if s.valid(hashToken(tok)) {
		t.Error("an expired session is valid")
	}
	s.create() // prunes tok2
	if got := s.len(); got != 1 {
		t.Errorf("sessions = %d, want 1 after pruning", got)
	}
}

func TestSessionStore_Bounded(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	s := newSessionStore(time.Hour, clk.now)
	s.max = 100
	first := s.create()
	for range s.max {
		clk.add(time.Millisecond)
		s.create()
	}
	if got := s.len(); got != s.max {
		t.Errorf("sessions = %d, want %d", got, s.max)
	}
	if s.valid(hashToken(first)) {
		t.Error("the oldest session survived the overflow")
	}
}

func TestSameOrigin(t *testing.T) {
	tests := []struct {
		host, origin, fwd string
		absentOK          bool
		want              bool
		fetchSite         string
	}{
		{"example.com", "", "", true, true, ""},
		{"example.com", "", "", false, false, ""},
		{"example.com", "http://example.com", "", false, true, ""},
		{"example.com:8000", "http://example.com:8000", "", false, true, ""},
		{"example.com:8000", "http://example.com", "", false, false, ""},
		{"example.com", "https://example.com:443", "", false, true, ""},
		{"example.com:443", "https://example.com", "", false, true, ""},
		{"example.com:80", "https://example.com", "", false, false, ""},
		{"[::1]:8000", "http://[::1]:8000", "", false, true, ""},
		{"internal:8000", "https://public.example", "public.example", false, true, ""},
		{"internal:8000", "https://public.example", "PUBLIC.example:443, internal", false, true, ""},
		{"internal:8000", "https://public.example", "other.example", false, false, ""},
		{"example.com", "null", "", true, true, ""},
		{"example.com", "null", "", true, true, "same-origin"},
		{"example.com", "null", "", true, false, "cross-site"},
		{"example.com", "null", "", true, false, "same-site"},
		{"example.com", "", "", true, false, "cross-site"},
		{"example.com", "", "", true, true, "same-origin"},
		{"example.com", "null", "", false, false, "same-origin"},
		{"example.com", "http://example.com", "", true, true, "same-origin"},
		{"example.com", "file://example.com", "", true, false, ""},
		{"example.com", "http://example.com.evil.example", "", true, false, ""},
		{"example.com", "http://evil.example/?example.com", "", true, false, ""},
		{"example.com", "::", "", true, false, ""},
	}
	for _, tt := range tests {
		app := fiber.New()
		var got bool
		app.Get("/", func(c *fiber.Ctx) error {
			got = sameOrigin(c, tt.absentOK)
			return nil
		})
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Host = tt.host
		if tt.origin != "" {
			req.Header.Set("Origin", tt.origin)
		}
		if tt.fwd != "" {
			req.Header.Set("X-Forwarded-Host", tt.fwd)
		}
		if tt.fetchSite != "" {
			req.Header.Set("Sec-Fetch-Site", tt.fetchSite)
		}
		if _, err := app.Test(req); err != nil {
			t.Fatalf("app.Test: %v", err)
		}
		if got != tt.want {
			t.Errorf("Host %q Origin %q X-Forwarded-Host %q Sec-Fetch-Site %q absentOK %v: sameOrigin = %v, want %v",
				tt.host, tt.origin, tt.fwd, tt.fetchSite, tt.absentOK, got, tt.want)
		}
	}
}

func TestDashboard_KeyOK(t *testing.T) {
	d := New(Config{Keys: []string{"alpha", "beta"}})
	for key, want := range map[string]bool{"alpha": true, "beta": true, "": false, "alph": false, "alphaa": false, "gamma": false, "Alpha": false} {
		if got := d.keyOK(key); got != want {
			t.Errorf("keyOK(%q) = %v, want %v", key, got, want)
		}
	}
}
