package stats

// seriesSeconds is how far back the per-second series reaches: 10 minutes.
const seriesSeconds = 600

// Point is the traffic of one second in the dashboard's series.
type Point struct {
	// T is the second, in Unix seconds.
	T int64 `json:"t"`
	// Requests is the number of requests that finished in that second.
	Requests int64 `json:"requests"`
	// Failures is how many of them were not successes.
	Failures int64 `json:"failures"`
	// AvgLatencyMs is their mean latency in milliseconds.
	AvgLatencyMs float64 `json:"avg_latency_ms"`
}

// bucket is one second of the series; its slot is t % seriesSeconds, so a
// bucket whose t is older than the window is stale and gets reused.
type bucket struct {
	t          int64
	requests   int64
	failures   int64
	latencySum float64
}

// series is a per-second window over the last seriesSeconds seconds. It is
// not safe for concurrent use; the Recorder guards it with its mutex.
type series struct {
	buckets [seriesSeconds]bucket
}

// add counts one request that finished at Unix second t.
func (s *series) add(t int64, latencyMs float64, failed bool) {
	b := &s.buckets[t%seriesSeconds]
	if b.t != t {
		*b = bucket{t: t}
	}
	b.requests++
	b.latencySum += latencyMs
	if failed {
		b.failures++
	}
}

// point returns the point for second t, or nil when that second had no traffic.
func (s *series) point(t int64) *Point {
	b := &s.buckets[t%seriesSeconds]
	if b.t != t || b.requests == 0 {
		return nil
	}
	p := b.toPoint()
	return &p
}

// pointsBetween returns the seconds with traffic from first to last
// (inclusive, at most the window), oldest first. It never returns nil.
func (s *series) pointsBetween(first, last int64) []Point {
	out := []Point{}
	for t := max(first, last-seriesSeconds+1); t <= last; t++ {
		if p := s.point(t); p != nil {
			out = append(out, *p)
		}
	}
	return out
}

// points returns the seconds with traffic in the window ending at second now,
// oldest first. It never returns nil.
func (s *series) points(now int64) []Point {
	out := []Point{}
	for t := now - seriesSeconds + 1; t <= now; t++ {
		if p := s.point(t); p != nil {
			out = append(out, *p)
		}
	}
	return out
}

func (b *bucket) toPoint() Point {
	return Point{
		T:            b.t,
		Requests:     b.requests,
		Failures:     b.failures,
		AvgLatencyMs: b.latencySum / float64(b.requests),
	}
}
