package dashboard

import (
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// maxLimiterClients bounds the limiter's table; when it is full the least
// recently seen address is dropped. (It used to be reset whole, which gave
// every throttled address a fresh budget: a flood of new addresses would
// let a guesser in.)
const maxLimiterClients = 10000

// loginLimiter is a token bucket per client address: rate attempts per
// period, refilled continuously, with a burst of rate.
type loginLimiter struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time
	mu    sync.Mutex // one bucket update at a time (the table has its own lock)
	m     *lru.Cache[string, *tokenBucket]
}

type tokenBucket struct {
	tokens float64
	last   time.Time
}

func newLoginLimiter(n int, per time.Duration, now func() time.Time) *loginLimiter {
	m, _ := lru.New[string, *tokenBucket](maxLimiterClients) // error only for a size < 1
	return &loginLimiter{
		rate:  float64(n) / per.Seconds(),
		burst: float64(n),
		now:   now,
		m:     m,
	}
}

// allow takes one token from addr's bucket. When none is left it reports
// false and how long until the next token.
func (l *loginLimiter) allow(addr string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.m.Get(addr)
	if !ok {
		b = &tokenBucket{tokens: l.burst, last: now}
		l.m.Add(addr, b)
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
