// Package upstream is the client side of llm-proxy: upstream targets, each
// with its own connection pool (transport.go), round-robin selection that
// skips targets cooling down after Retry-After (target.go), the attempt loop
// with its classification (relay.go, classify.go), building the outgoing
// request (request.go), the first-event probe of a stream (probe.go), and a
// small SSE toolkit (sse.go). It knows nothing of Fiber or of the inbound request.
package upstream

import (
	"crypto/tls"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Target is one upstream (base URL, key) pair. It prints as its name; its key
// is unexported and never leaves the package except in the outgoing header.
type Target struct {
	name     string
	basePath string // URL path prefix, e.g. "/v1" or "/openai/v1"
	scheme   string
	host     string
	key      string
	// redaction finds key in answers (computed once: see keyScan).
	redaction keyScan
	conns     *connections
	// bufferLimit: see ClientOptions.BufferLimit.
	bufferLimit int
	// headers are extra headers sent with every request (routing file only).
	headers [][2]string
	// style, when forced, overrides the client's key style (auth: in the routing file).
	style      KeyStyle
	forceStyle bool

	coolUntil atomic.Int64  // unix nanos; 0 or past: not cooling
	maxCool   time.Duration // longest honoured cooldown; 0: no cap
	capped    atomic.Pointer[CooldownCap]
	share     atomic.Pointer[CooldownShare] // nil: cooldowns stay local

	mu        sync.Mutex
	lastError string
	lastAt    time.Time
}

// String returns the target's display name.
func (t *Target) String() string { return t.name }

// Name returns the target's display name.
func (t *Target) Name() string { return t.name }

// CoolingUntil returns when the target's cooldown ends, and whether it is cooling at now.
func (t *Target) CoolingUntil(now time.Time) (time.Time, bool) {
	u := t.coolUntil.Load()
	if u == 0 || u <= now.UnixNano() {
		return time.Time{}, false
	}
	return time.Unix(0, u), true
}

// CooldownCap records a Retry-After longer than MAX_COOLDOWN: what the
// upstream asked for, what was honoured, and when.
type CooldownCap struct {
	At     time.Time
	Asked  time.Duration
	Capped time.Duration
}

// coolFor puts the target in cooldown for d from now, at most maxCool (a
// Retry-After of a day must not take a key out for a day); a longer running
// cooldown is kept.
func (t *Target) coolFor(now time.Time, d time.Duration) {
	if t.maxCool > 0 && d > t.maxCool {
		t.capped.Store(&CooldownCap{At: now, Asked: d, Capped: t.maxCool})
		d = t.maxCool
	}
	until := now.Add(d).UnixNano()
	if t.raiseCooldown(until) {
		if sh := t.share.Load(); sh != nil {
			(*sh).Learned(t.name, "", time.Unix(0, until))
		}
	}
}

func (t *Target) noteError(now time.Time, what string) {
	t.mu.Lock()
	t.lastError, t.lastAt = what, now
	t.mu.Unlock()
}

// LastError returns the last failed attempt's description ("rate_limit 429") and its time.
func (t *Target) LastError() (string, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastError, t.lastAt
}

// Spec describes a target to build.
type Spec struct {
	Name string
	URL  *url.URL
	Key  string
	// Headers are extra headers sent upstream with every request; optional.
	Headers [][2]string
	// ForceStyle sends the key in Style whatever the client used; false: the client's style.
	ForceStyle bool
	Style      KeyStyle
}

// ClientOptions configures each target's connection pool.
type ClientOptions struct {
	// ConnectTimeout bounds TCP (and TLS, and a proxy's CONNECT) connection
	// set-up; also how long a request waits for a free pooled connection.
	ConnectTimeout time.Duration
	// MaxConns is the pool size per target (fasthttp's default of 512, with an
	// instant ErrNoFreeConns, would be a hidden ceiling on open streams).
	// 0 means 16384.
	MaxConns int
	// BufferLimit: a non-stream answer up to this size is read whole (its
	// usage is recorded); a larger one, or one of unknown length that grows
	// past it, is relayed as a stream. 0 means 1 MiB.
	BufferLimit int
	// Proxy chooses the outbound proxy for each target; nil means direct.
	// See ProxyFromEnvironment.
	Proxy *ProxyConfig
	// TLSConfig, when set, is the base TLS configuration (e.g. a private CA);
	// nil: the system roots.
	TLSConfig *tls.Config
	// MaxCooldown caps the cooldown a Retry-After can impose; 0: no cap.
	MaxCooldown time.Duration
}

// tcpDialer is shared by every target: its DNS cache too.
var tcpDialer = &fasthttp.TCPDialer{DNSCacheDuration: time.Minute}

func newTarget(s Spec, o ClientOptions) *Target {
	host := s.URL.Host
	isTLS := s.URL.Scheme == "https"
	addr := fasthttp.AddMissingPort(host, isTLS)
	var tlsConfig *tls.Config
	if isTLS {
		tlsConfig = &tls.Config{ServerName: s.URL.Hostname(), MinVersion: tls.VersionTLS12, ClientSessionCache: tls.NewLRUClientSessionCache(64)}
		if o.TLSConfig != nil {
			tlsConfig = o.TLSConfig.Clone()
			tlsConfig.ServerName = s.URL.Hostname()
		}
	}
	bufferLimit := o.BufferLimit
	if bufferLimit <= 0 {
		bufferLimit = 1 << 20
	}
	return &Target{
		name:        s.Name,
		basePath:    strings.TrimRight(s.URL.Path, "/"),
		scheme:      s.URL.Scheme,
		host:        host,
		key:         s.Key,
		redaction:   newKeyScan(s.Key),
		conns:       newConnections(addr, tlsConfig, o.Proxy.dialer(s.URL, o.ConnectTimeout), o),
		bufferLimit: bufferLimit,
		maxCool:     o.MaxCooldown,

		headers:    s.Headers,
		style:      s.Style,
		forceStyle: s.ForceStyle,
	}
}

// ConnsOpened is how many upstream connections this target has opened so
// far (keep-alive reuse keeps it low).
func (t *Target) ConnsOpened() int64 { return t.conns.opened.Load() }

// Targets holds the targets and picks them in rotation.
type Targets struct {
	targets []*Target
	next    atomic.Uint64
}

// NewTargets builds one target, with its connection pool, per spec. Call Close when done.
func NewTargets(specs []Spec, o ClientOptions) *Targets {
	p := &Targets{}
	for _, s := range specs {
		p.targets = append(p.targets, newTarget(s, o))
	}
	return p
}

// All returns the targets in configuration order.
func (p *Targets) All() []*Target { return p.targets }

// TargetState is one target as the dashboard shows it.
type TargetState struct {
	Name         string
	CoolingUntil time.Time // zero when not cooling
	LastError    string
	LastErrorAt  time.Time
	// CooldownCapped is the latest Retry-After cut to MaxCooldown; nil if none.
	CooldownCapped *CooldownCap
}

// States returns every target's state at now.
func (p *Targets) States(now time.Time) []TargetState {
	out := make([]TargetState, len(p.targets))
	for i, t := range p.targets {
		until, _ := t.CoolingUntil(now)
		msg, at := t.LastError()
		out[i] = TargetState{Name: t.name, CoolingUntil: until, LastError: msg, LastErrorAt: at, CooldownCapped: t.capped.Load()}
	}
	return out
}

// Close closes idle upstream connections and stops pooling; connections in
// use close when their exchange ends.
func (p *Targets) Close() {
	for _, t := range p.targets {
		t.conns.close()
	}
}

// MaxTargets is the most targets a Targets holds (the rotation tracks them in a bitmask).
const MaxTargets = 64

// rotation walks the targets for one request: it starts where the shared
// counter points, so concurrent requests spread out, and visits every
// available target once before it repeats one.
type rotation struct {
	p     *Targets
	pos   int    // where the next scan starts
	tried uint64 // targets used in the current round
}

func (p *Targets) rotation() rotation {
	if len(p.targets) == 1 {
		return rotation{p: p} // nothing to spread: skip the shared counter
	}
	return rotation{p: p, pos: int(p.next.Add(1)-1) % len(p.targets)}
}

// pick returns the next target for this request, and how long to wait before
// using it. It takes the next untried target that is not cooling down; failing
// that, an already tried one that is not cooling (a new round starts); failing
// that — every target is cooling — the one that recovers soonest, with the
// wait until then.
func (r *rotation) pick(now time.Time) (*Target, time.Duration) {
	ts := r.p.targets
	n := len(ts)
	all := uint64(1)<<n - 1
	if n == MaxTargets {
		all = ^uint64(0)
	}
	if r.tried&all == all {
		r.tried = 0
	}
	soonest := -1
	var soonestUntil time.Time
	for _, untriedOnly := range [2]bool{true, false} {
		for k := range n {
			i := (r.pos + k) % n
			if untriedOnly == (r.tried&(1<<i) != 0) {
				continue
			}
			until, cooling := ts[i].CoolingUntil(now)
			if !cooling {
				if !untriedOnly {
					r.tried = 0 // repeating a target: a new round
				}
				r.use(i)
				return ts[i], 0
			}
			if soonest < 0 || until.Before(soonestUntil) {
				soonest, soonestUntil = i, until
			}
		}
	}
	r.use(soonest)
	return ts[soonest], soonestUntil.Sub(now)
}

func (r *rotation) use(i int) {
	r.tried |= 1 << i
	r.pos = (i + 1) % len(r.p.targets)
}
