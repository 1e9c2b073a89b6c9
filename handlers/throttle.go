package handlers

import (
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// MsgAuthThrottled is the message of the 429 a client address gets after
// too many failed authentications.
const MsgAuthThrottled = "too many failed authentication attempts from your address; retry later"

// AuthThrottleConfig configures NewAuthThrottle.
type AuthThrottleConfig struct {
	// Burst is how many failed authentications an address may make at once.
	Burst int
	// PerMinute is how many more it earns per minute after that.
	PerMinute float64
	// MaxClients bounds the table of addresses; when it is full the least
	// recently seen address is dropped (never everyone's budget at once).
	MaxClients int
	// Addr finds a request's client address.
	Addr *ClientAddr
	// Failures counts failed authentications; Throttled counts requests
	// answered 429 by the throttle. nil: not counted.
	Failures, Throttled prometheus.Counter
	// Logger gets at most one line per LogEvery about failures and
	// throttling. nil: slog.Default().
	Logger *slog.Logger
	// LogEvery is the least time between two log lines; 0 means 10s.
	LogEvery time.Duration
}

// AuthThrottle throttles failed authentication per client address on the
// routes it guards: after Burst failures an address gets 429 (in the
// route family's error shape, with Retry-After) until its budget refills,
// whatever key it presents — so the answers stop telling right keys from
// wrong ones. The budget is a token bucket (golang.org/x/time/rate) per
// address, in a bounded LRU table (hashicorp/golang-lru).
type AuthThrottle struct {
	cfg   AuthThrottleConfig
	table *lru.Cache[string, *rate.Limiter]
	// entries mirrors the table's size, so that a request skips finding
	// its address while nobody has failed (the usual case).
	entries atomic.Int64

	logEvery           rate.Sometimes
	failed, throttled  atomic.Int64 // since the last log line
	lastAddr, lastPath atomic.Pointer[string]
}

// NewAuthThrottle returns the throttle.
func NewAuthThrottle(cfg AuthThrottleConfig) *AuthThrottle {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = 10 * time.Second
	}
	if cfg.Failures == nil {
		cfg.Failures = prometheus.NewCounter(prometheus.CounterOpts{Name: "unused_auth_failures"})
	}
	if cfg.Throttled == nil {
		cfg.Throttled = prometheus.NewCounter(prometheus.CounterOpts{Name: "unused_auth_throttled"})
	}
	t := &AuthThrottle{cfg: cfg, logEvery: rate.Sometimes{Interval: cfg.LogEvery}}
	table, err := lru.NewWithEvict(max(1, cfg.MaxClients), func(string, *rate.Limiter) { t.entries.Add(-1) })
	if err != nil {
		panic(err) // only for a size < 1, excluded above
	}
	t.table = table
	return t
}

// Handler is the middleware: it answers 429 for a throttled address before
// the route's own authentication runs, and after the route counts an answer
// of 401 (or a failed dashboard login, a redirect to /?error=1) against the
// address.
func (t *AuthThrottle) Handler(c *fiber.Ctx) error {
	var addr string
	if t.entries.Load() > 0 {
		addr = t.cfg.Addr.Of(c.Context())
		if lim, ok := t.table.Get(addr); ok {
			if tokens := lim.Tokens(); tokens < 1 {
				wait := time.Duration((1 - tokens) / float64(lim.Limit()) * float64(time.Second))
				t.cfg.Throttled.Inc()
				t.throttled.Add(1)
				t.note(addr, c.Path())
				c.Set(fiber.HeaderRetryAfter, strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
				return sendError(c, FamilyOf(c.Context().URI().Path()), fiber.StatusTooManyRequests, errRateLimited, MsgAuthThrottled)
			}
		}
	}
	err := c.Next()
	if failedAuth(c) {
		if addr == "" {
			addr = t.cfg.Addr.Of(c.Context())
		}
		t.fail(addr)
		t.note(addr, c.Path())
	}
	return err
}

// Fail counts a failed authentication that did not pass through Handler
// (a keyless request refused before routing).
func (t *AuthThrottle) Fail(c *fiber.Ctx) {
	addr := t.cfg.Addr.Of(c.Context())
	t.fail(addr)
	t.note(addr, c.Path())
}

// fail takes one token from addr's budget.
func (t *AuthThrottle) fail(addr string) {
	t.cfg.Failures.Inc()
	t.failed.Add(1)
	lim, ok := t.table.Get(addr)
	if !ok {
		fresh := rate.NewLimiter(rate.Limit(t.cfg.PerMinute/60), t.cfg.Burst)
		prev, found, _ := t.table.PeekOrAdd(addr, fresh)
		if found {
			lim = prev
		} else {
			lim = fresh
			t.entries.Add(1)
		}
	}
	lim.Allow()
}

// note logs, at most once per LogEvery, what happened since the last line.
func (t *AuthThrottle) note(addr, path string) {
	t.lastAddr.Store(&addr)
	path = string([]byte(path)) // the Fiber path lives only as long as the request
	t.lastPath.Store(&path)
	t.logEvery.Do(func() {
		t.cfg.Logger.Warn("failed authentication",
			"failed", t.failed.Swap(0), "throttled", t.throttled.Swap(0),
			"last_client", *t.lastAddr.Load(), "last_path", *t.lastPath.Load(),
			"note", "counts since the previous line; at most one line per "+t.cfg.LogEvery.String())
	})
}

// failedAuth reports whether the route's answer says the client failed to
// authenticate.
func failedAuth(c *fiber.Ctx) bool {
	switch c.Response().StatusCode() {
	case fiber.StatusUnauthorized:
		return true
	case fiber.StatusSeeOther: // the dashboard's login form on a wrong key
		return string(c.Response().Header.Peek(fiber.HeaderLocation)) == "/?error=1"
	}
	return false
}
