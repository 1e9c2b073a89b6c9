package stats

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestAppendRFC3339_SameAsTimeFormat: the cached second gives the text
// time.AppendFormat gives, in UTC, a fixed zone and Local, with and without
// a fraction, from goroutines that share the cache.
func TestAppendRFC3339_SameAsTimeFormat(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("x", 7*3600+1800), time.FixedZone("y", -5*3600), time.Local}
	r := rand.New(rand.NewPCG(3, 4))
	base := time.Date(2026, 12, 2, 5, 17, 18, 0, time.UTC).UnixNano()
	var times []time.Time
	for range 20000 {
		ns := base + r.Int64N(3e9) // a few seconds, so the cache is hit and replaced
		if r.IntN(5) == 0 {
			ns -= ns % 1e9 // no fraction
		}
		times = append(times, time.Unix(0, ns).In(zones[r.IntN(len(zones))]))
	}
	times = append(times, time.Date(10000, 1, 1, 0, 0, 0, 5, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 120000000, time.UTC))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(times); i += 4 {
				tm := times[i]
				if got, want := string(AppendRFC3339(nil, tm, false)), tm.Format(time.RFC3339Nano); got != want {
					t.Errorf("nano %v: %s, want %s", tm, got, want)
					return
				}
				if got, want := string(AppendRFC3339(nil, tm, true)), tm.Format("2006-01-02T15:04:05.000Z07:00"); got != want {
					t.Errorf("millis %v: %s, want %s", tm, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}
