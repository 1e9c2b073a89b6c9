package upstream

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfter caps what an upstream may ask for, so a bogus header cannot
// park a target for days.
const maxRetryAfter = 24 * time.Hour

// ParseRetryAfter reads how long the upstream asked us to wait: the
// `retry-after-ms` header (milliseconds, may be fractional) wins over
// `Retry-After` (delay-seconds or an HTTP date). ok is false when neither is
// present and valid. Results are clamped to [0, 24h].
func ParseRetryAfter(retryAfterMs, retryAfter string, now time.Time) (d time.Duration, ok bool) {
	if s := strings.TrimSpace(retryAfterMs); s != "" {
		if ms, err := strconv.ParseFloat(s, 64); err == nil && ms >= 0 && ms < float64(maxRetryAfter/time.Millisecond) {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	s := strings.TrimSpace(retryAfter)
	if s == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		if secs < 0 || secs != secs { // negative or NaN
			return 0, false
		}
		if secs > maxRetryAfter.Seconds() {
			return maxRetryAfter, true
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(s); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return min(d, maxRetryAfter), true
	}
	return 0, false
}

// RetryAfterSeconds renders d for a Retry-After header (whole seconds, rounded up, at least 1).
func RetryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}
