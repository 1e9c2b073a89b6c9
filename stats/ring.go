package stats

// ring keeps the last len(buf) events. It is not safe for concurrent use; the
// Recorder guards it with its mutex.
type ring struct {
	buf  []*Event
	next int // index the next push writes to
	n    int // number of events held, ≤ len(buf)
}

func newRing(size int) *ring { return &ring{buf: make([]*Event, size)} }

// push adds e, overwriting the oldest event when the ring is full.
func (r *ring) push(e *Event) {
	r.buf[r.next] = e
	r.next = (r.next + 1) % len(r.buf)
	if r.n < len(r.buf) {
		r.n++
	}
}

// newestFirst returns copies of the held events, newest first. It never
// returns nil, so the JSON form is [] rather than null.
func (r *ring) newestFirst() []Event {
	out := make([]Event, 0, r.n)
	for i := 1; i <= r.n; i++ {
		out = append(out, *r.buf[(r.next-i+len(r.buf))%len(r.buf)])
	}
	return out
}
