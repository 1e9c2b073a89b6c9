package stats

// peerSink is the Recorder's side of a SharedStore: the store's goroutine
// calls it, and it hands everything to the recorder goroutine without
// waiting (a full channel drops the delivery; the next one catches up for
// totals and series, and the live feed loses those rows only).
type peerSink struct{ r *Recorder }

// PeerTotals implements Peers. Sums read at different moments (heartbeat,
// notifications) may arrive out of order; as every replica's counters only
// grow, the larger value of each field is the newer one, so the totals never
// step back.
func (p peerSink) PeerTotals(c Counters) {
	ic := c.internal()
	ic.lastID = 0
	for {
		cur := p.r.peerTotals.Load()
		next := ic
		if cur != nil {
			next = cur.atLeast(ic)
			if next == *cur {
				return
			}
		}
		if p.r.peerTotals.CompareAndSwap(cur, &next) {
			return
		}
	}
}

// atLeast is the field-wise maximum of c and o.
func (c counters) atLeast(o counters) counters {
	return counters{
		requests: max(c.requests, o.requests), successes: max(c.successes, o.successes),
		rateLimits: max(c.rateLimits, o.rateLimits), retries: max(c.retries, o.retries),
		clientGone: max(c.clientGone, o.clientGone), inputTokens: max(c.inputTokens, o.inputTokens),
		outputTokens: max(c.outputTokens, o.outputTokens),
	}
}

// PeerEvents implements Peers.
func (p peerSink) PeerEvents(b PeerBatch) {
	if len(b.Events) == 0 && b.Complete.IsZero() || p.r.closed.Load() {
		return
	}
	select {
	case p.r.peerEvents <- b:
	default:
	}
}

// PeerSeries implements Peers.
func (p peerSink) PeerSeries(buckets []Bucket) {
	if len(buckets) == 0 || p.r.closed.Load() {
		return
	}
	select {
	case p.r.peerSeries <- buckets:
	default:
	}
}

// secondSpan is the range of series seconds an update must carry.
type secondSpan struct {
	first, last int64
	set         bool
}

func (s *secondSpan) add(t int64) {
	switch {
	case !s.set:
		s.first, s.last, s.set = t, t, true
	case t < s.first:
		s.first = t
	case t > s.last:
		s.last = t
	}
}

// set replaces the bucket of second b.T (a negative second is ignored).
func (s *series) set(b Bucket) {
	if b.T < 0 {
		return
	}
	s.buckets[b.T%seriesSeconds] = bucket{t: b.T, requests: b.Requests, failures: b.Failures, latencySum: b.LatencySum}
}

// combined returns the seconds with traffic from first to last (inclusive,
// at most the window) of a and b added up, oldest first. It never returns nil.
func combined(a, b *series, first, last int64) []Point {
	out := []Point{}
	for t := max(first, last-seriesSeconds+1); t <= last; t++ {
		var sum bucket
		for _, s := range [2]*series{a, b} {
			if x := &s.buckets[t%seriesSeconds]; x.t == t {
				sum.requests += x.requests
				sum.failures += x.failures
				sum.latencySum += x.latencySum
			}
		}
		if sum.requests > 0 {
			sum.t = t
			out = append(out, sum.toPoint())
		}
	}
	return out
}

// plus adds o's counters to c's (lastID stays c's).
func (c counters) plus(o counters) counters {
	c.requests += o.requests
	c.successes += o.successes
	c.rateLimits += o.rateLimits
	c.retries += o.retries
	c.clientGone += o.clientGone
	c.inputTokens += o.inputTokens
	c.outputTokens += o.outputTokens
	return c
}
