// Package dashboard serves the live dashboard: the page and its assets, the
// login form and its session cookie, GET /api/stats and the websocket live
// feed. It holds no state of its own beyond sessions, the login throttle and
// the set of open websocket connections.
//
// The app wires it like this (the websocket path must be /ws, the page opens
// it). SecurityHeaders goes on each dashboard route, not on a Group("", …):
// a group with an empty prefix is app-wide middleware in Fiber v2 and would
// run on /v1/* too.
//
//	d := dashboard.New(dashboard.Config{Keys: keys, Recorder: rec})
//	sec := d.SecurityHeaders()
//	app.Get("/", sec, d.Page)
//	app.Post("/login", sec, d.Login)
//	app.Post("/logout", sec, d.Logout)
//	app.Get("/assets/*", sec, d.Assets())
//	app.Get("/api/stats", sec, d.StatsJSON)
//	app.Get("/ws", sec, d.Upgrade, d.Live())
//	// at shutdown, before closing the Recorder:
//	d.Close()
package dashboard

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/llm-proxy/llm-proxy/stats"
)

// Defaults for the zero values of Config.
const (
	// DefaultSessionTTL is how long a dashboard session lasts when Config.SessionTTL is 0.
	DefaultSessionTTL = 24 * time.Hour
	// DefaultLoginRate is the number of login attempts per minute and client
	// address allowed when Config.LoginRate is 0.
	DefaultLoginRate = 10
)

// SessionCookie is the name of the dashboard's session cookie.
const SessionCookie = "llmproxy_session"

// Config configures New.
type Config struct {
	// Keys are the accepted dashboard keys, compared in constant time. The
	// Dashboard keeps only their SHA-256 digests and never logs or shows
	// them. Empty strings are ignored; with no key at all nobody can log in.
	Keys []string
	// SessionTTL is how long a session lasts after login; 0 means 24h.
	SessionTTL time.Duration
	// Recorder provides snapshots and the live feed. Required: without it
	// /api/stats answers 503 and the live feed closes at once.
	Recorder *stats.Recorder
	// LoginRate is the number of login attempts allowed per minute and
	// client address (Config.ClientAddr);
	// 0 means 10. Over the limit, POST /login answers 429.
	LoginRate int
	// Logger receives login and live-feed notes; nil means slog.Default().
	Logger *slog.Logger
	// ClientAddr finds a request's client address for the login throttle
	// and logs; nil means c.IP().
	ClientAddr func(c *fiber.Ctx) string
	// Sessions, when set, shares sessions between replicas (REPLICAS.md);
	// nil keeps them in this process only.
	Sessions SessionShare
}

// Dashboard holds the dashboard's handlers and their state. Create it with New.
type Dashboard struct {
	keys     [][sha256.Size]byte
	rec      *stats.Recorder
	log      *slog.Logger
	ttl      time.Duration
	sessions *sessionStore
	limiter  *loginLimiter
	site     *site
	hub      *hub
	headers  fiber.Handler
	addr     func(c *fiber.Ctx) string // the client address (Config.ClientAddr)

	// Live-feed timing; fields so that tests can shorten them.
	pingInterval time.Duration
	pongWait     time.Duration
	writeTimeout time.Duration
}

// Live-feed timing defaults.
const (
	pingInterval = 30 * time.Second
	pongWait     = 70 * time.Second // two missed pings and a margin
	writeTimeout = 5 * time.Second
)

// New builds a Dashboard from cfg, filling in the defaults.
func New(cfg Config) *Dashboard {
	d := &Dashboard{
		rec:          cfg.Recorder,
		log:          cfg.Logger,
		ttl:          cfg.SessionTTL,
		site:         newSite(),
		hub:          newHub(),
		pingInterval: pingInterval,
		pongWait:     pongWait,
		writeTimeout: writeTimeout,
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.ttl <= 0 {
		d.ttl = DefaultSessionTTL
	}
	rate := cfg.LoginRate
	if rate <= 0 {
		rate = DefaultLoginRate
	}
	for _, k := range cfg.Keys {
		if k != "" {
			d.keys = append(d.keys, sha256.Sum256([]byte(k)))
		}
	}
	d.sessions = newSessionStore(d.ttl, time.Now)
	d.sessions.log = d.log
	if cfg.Sessions != nil {
		d.sessions.share = cfg.Sessions
		cfg.Sessions.OnEnd(func(id [sha256.Size]byte) {
			d.sessions.dropLocal(id)
			d.hub.endSession(id)
		})
	}
	d.limiter = newLoginLimiter(rate, time.Minute, time.Now)
	d.headers = securityHeaders()
	d.addr = cfg.ClientAddr
	if d.addr == nil {
		d.addr = func(c *fiber.Ctx) string { return c.IP() }
	}
	return d
}

// keyOK reports whether key is one of the configured keys. Every key is
// compared, in constant time, whatever the input.
func (d *Dashboard) keyOK(key string) bool {
	if key == "" {
		return false
	}
	sum := sha256.Sum256([]byte(key))
	ok := 0
	for i := range d.keys {
		ok |= subtle.ConstantTimeCompare(sum[:], d.keys[i][:])
	}
	return ok == 1
}

// bearerOK reports whether the request carries a configured key as
// "Authorization: Bearer <key>".
func (d *Dashboard) bearerOK(c *fiber.Ctx) bool {
	h := c.Get(fiber.HeaderAuthorization)
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	return d.keyOK(strings.TrimSpace(h[len(prefix):]))
}

// session returns the digest of the request's session token when the
// request carries a valid session cookie.
func (d *Dashboard) session(c *fiber.Ctx) (sessionID, bool) {
	tok := c.Cookies(SessionCookie)
	if tok == "" {
		return sessionID{}, false
	}
	id := hashToken(tok)
	return id, d.sessions.valid(id)
}

// Close closes every open live-feed connection (close code 1001) and refuses
// new ones. It waits a short, bounded time for them to end. Call it at
// shutdown before closing the Recorder; it is safe to call more than once.
func (d *Dashboard) Close() {
	d.hub.close(2 * time.Second)
}

// unauthorized answers 401 {"error":"unauthorized"}.
func unauthorized(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"error": "unauthorized"})
}
