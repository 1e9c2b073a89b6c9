package stats

import (
	"slices"
	"time"
)

// With a store shared by replicas the live feed shows every replica's
// requests in order of completion (REPLICAS.md). Other replicas' events
// arrive in batches, one per flush of each replica, so a batch from B may
// arrive after a batch from A that holds later events. The recorder
// therefore holds events (its own and the others') back until no replica
// can still deliver one that completed earlier: each replica's batches say
// up to when its records are complete (PeerBatch.Complete), and a replica
// without new records still sends that mark every FLUSH_INTERVAL.
const (
	// localLag covers the moment between a request's end (its completion
	// time) and its Record: this replica's events that completed before
	// now-localLag have been recorded.
	localLag = 10 * time.Millisecond
	// peerSilence is how much longer than two of its intervals a replica
	// may stay silent before the feed stops waiting for it (it stopped,
	// or the database is away).
	peerSilence = 500 * time.Millisecond
	// maxHold bounds the wait for an event whatever the others say (a
	// replica whose clock runs far behind).
	maxHold = 2 * time.Second
	// minHeldCap is the least number of events held before the oldest
	// are dropped (a feed that far behind shows the newest).
	minHeldCap = 4096
)

// feedOrder is the recorder goroutine's reorder buffer for the live feed.
type feedOrder struct {
	held   []*Event // not shown yet; sorted when released
	sorted bool     // held is in order of completion
	peers  map[string]peerMark
	cap    int
}

// peerMark is what the feed knows of another replica's progress.
type peerMark struct {
	complete time.Time     // its records that completed before are all here
	heard    time.Time     // when its latest batch arrived (this replica's clock)
	every    time.Duration // how often it sends batches
}

func newFeedOrder(recentSize int) *feedOrder {
	return &feedOrder{peers: map[string]peerMark{}, sorted: true, cap: max(minHeldCap, 16*recentSize)}
}

// add holds e until it may be shown.
func (o *feedOrder) add(e *Event) {
	if n := len(o.held); n > 0 && completion(e).Before(completion(o.held[n-1])) {
		o.sorted = false
	}
	o.held = append(o.held, e)
	if len(o.held) > o.cap { // far behind: keep the newest half
		o.sort()
		n := copy(o.held, o.held[len(o.held)-o.cap/2:])
		clear(o.held[n:])
		o.held = o.held[:n]
	}
}

// batch holds another replica's events and notes its progress; at is when
// the batch arrived.
func (o *feedOrder) batch(b PeerBatch, at time.Time) {
	for _, e := range b.Events {
		o.add(e)
	}
	if b.Replica == "" || b.Complete.IsZero() {
		return // a replica that does not say how far it is: not waited for
	}
	every := b.Every
	if every <= 0 {
		every = DefaultFlushInterval
	}
	m := o.peers[b.Replica]
	if b.Complete.After(m.complete) {
		m.complete = b.Complete
	}
	m.heard, m.every = at, every
	o.peers[b.Replica] = m
}

// horizon is the completion time up to which, at now, no replica can still
// deliver an event: the held events that completed by then may be shown.
func (o *feedOrder) horizon(now time.Time) time.Time {
	h := now.Add(-localLag)
	for name, m := range o.peers {
		if now.Sub(m.heard) > 2*m.every+peerSilence {
			delete(o.peers, name) // silent: not waited for until it speaks again
			continue
		}
		if m.complete.Before(h) {
			h = m.complete
		}
	}
	if floor := now.Add(-maxHold); h.Before(floor) {
		h = floor
	}
	return h
}

// release hands show the held events that completed by the horizon at
// now, in order of completion (show must not keep the slice), and forgets
// them.
func (o *feedOrder) release(now time.Time, show func([]*Event)) {
	if len(o.held) == 0 {
		return
	}
	o.sort()
	h := o.horizon(now)
	n := 0
	for n < len(o.held) && !completion(o.held[n]).After(h) {
		n++
	}
	if n == 0 {
		return
	}
	show(o.held[:n])
	rest := copy(o.held, o.held[n:])
	clear(o.held[rest:])
	o.held = o.held[:rest]
}

// releaseAll hands show every held event, in order of completion.
func (o *feedOrder) releaseAll(show func([]*Event)) {
	o.sort()
	show(o.held)
	clear(o.held)
	o.held = o.held[:0]
}

func (o *feedOrder) sort() {
	if !o.sorted {
		sortByCompletion(o.held)
		o.sorted = true
	}
}

// sortByCompletion orders events by the time they finished (arrival plus
// latency), so that other replicas' events fall in among ours.
func sortByCompletion(events []*Event) {
	slices.SortStableFunc(events, func(a, b *Event) int {
		return completion(a).Compare(completion(b))
	})
}

func completion(e *Event) time.Time {
	return e.Time.Add(time.Duration(e.LatencyMs * float64(time.Millisecond)))
}
