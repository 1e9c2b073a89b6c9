package dashboard

import (
	"sync"
	"time"
)

// maxLimiterClients bounds the limiter's map; when it is full, idle buckets
// are dropped first and, if that is not enough, the whole map is reset.
const maxLimiterClients = 10000

// loginLimiter is a token bucket per client address: rate attempts per
// period, refilled continuously, with a burst of rate.
type loginLimiter struct {
	rate   float64 // tokens per second
	burst  float64
	now    func() time.Time
	mu     sync.Mutex
	m      map[string]*tokenBucket
	pruned time.Time
}

type tokenBucket struct {
	tokens float64
	last   time.Time
}

func newLoginLimiter(n int, per time.Duration, now func() time.Time) *loginLimiter {
	return &loginLimiter{
		rate:  float64(n) / per.Seconds(),
		burst: float64(n),
		now:   now,
		m:     make(map[string]*tokenBucket),
	}
}

// allow takes one token from addr's bucket. When none is left it reports
// false and how long until the next token.
func (l *loginLimiter) allow(addr string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.pruned) > time.Minute || len(l.m) >= maxLimiterClients {
		l.pruneLocked(now)
	}
	b, ok := l.m[addr]
	if !ok {
		b = &tokenBucket{tokens: l.burst, last: now}
		l.m[addr] = b
	} else if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(l.burst, b.tokens+el*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}

// pruneLocked drops buckets that have refilled completely (they hold no
// information); if the map is still full, it starts over.
func (l *loginLimiter) pruneLocked(now time.Time) {
	l.pruned = now
	for addr, b := range l.m {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.m, addr)
		}
	}
	if len(l.m) >= maxLimiterClients {
		clear(l.m)
	}
}
