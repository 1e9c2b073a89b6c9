package stats

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Recorder defaults.
const (
	// DefaultRecentSize is the number of recent events kept when Options.RecentSize is 0.
	DefaultRecentSize = 50
	// DefaultQueueSize is the Record queue's capacity when Options.QueueSize is 0.
	DefaultQueueSize = 65536
	// DefaultSubscriberBuffer is a subscriber's channel capacity when Options.SubscriberBuffer is 0.
	DefaultSubscriberBuffer = 16
	// DefaultBatchInterval is the live-feed coalescing interval when Options.BatchInterval is 0.
	DefaultBatchInterval = 200 * time.Millisecond
	// statusInterval is how often at most an update without traffic carries
	// the store's state and the replicas list.
	statusInterval = 2 * time.Second
	// MaxBatchInterval is the longest allowed Options.BatchInterval.
	MaxBatchInterval = 250 * time.Millisecond
)

// Options configure NewRecorder. The zero value is a valid memory-only recorder.
type Options struct {
	// RecentSize is how many recent events the Snapshot holds; 0 means 50.
	RecentSize int
	// Store persists counters, events and the series and restores them at
	// start; nil keeps everything in memory. The Recorder does not close
	// it. A SharedStore also brings in the other replicas' state.
	Store Store
	// Replica names this process in every Event (Event.Replica); "" leaves
	// the field empty.
	Replica string
	// Targets provides the upstream targets' states for snapshots and
	// updates; it is called from other goroutines, so it must be safe for
	// concurrent use. nil means no targets are shown.
	Targets func() []TargetState
	// Routing, when set, gives the routing file's state for snapshots; it
	// returns nil without a routing file.
	Routing func() *RoutingStatus
	// QueueSize is the capacity of the queue between Record and the
	// recorder goroutine; 0 means 65536. When it is full, events are counted
	// but not stored or shown (see DroppedEvents).
	QueueSize int
	// SubscriberBuffer is each live-feed subscriber's channel capacity in
	// messages; 0 means 16. A subscriber that lets it fill up is dropped.
	SubscriberBuffer int
	// BatchInterval is how often at most an update is published; 0 means
	// 200ms. It must not exceed MaxBatchInterval (250ms).
	BatchInterval time.Duration
	// Logger receives warnings (dropped events, encoding failures); nil means slog.Default().
	Logger *slog.Logger
	// Metrics, when set, observes every event (from the recorder goroutine,
	// not from Record) and exports the dropped-event and dropped-subscriber
	// counts. Its target provider is set separately (Metrics.SetTargetProvider).
	Metrics *Metrics
}

// Recorder turns finished requests into counters, a ring of recent events, a
// per-second series, store writes and live-feed updates. Record is cheap and
// never blocks; the rest happens on one goroutine.
type Recorder struct {
	recentSize    int
	batchInterval time.Duration
	targets       func() []TargetState
	routing       func() *RoutingStatus
	store         Store
	shared        SharedStore // store, when shared by replicas; nil otherwise
	replica       string
	metrics       *Metrics
	log           *slog.Logger
	start         time.Time

	// Updated by Record, read anywhere.
	lastID        atomic.Int64
	requests      atomic.Int64
	successes     atomic.Int64
	rateLimits    atomic.Int64
	retries       atomic.Int64
	clientGone    atomic.Int64
	inputTokens   atomic.Int64
	outputTokens  atomic.Int64
	droppedEvents atomic.Uint64
	closed        atomic.Bool

	queue chan *Event
	bus   *bus

	// The other replicas' state (SharedStore only): totals are read
	// anywhere, events and series go through the recorder goroutine.
	peerTotals atomic.Pointer[counters]
	peerEvents chan PeerBatch
	peerSeries chan []Bucket
	// order holds the live feed's events back until they can be shown in
	// order of completion (SharedStore only; nil otherwise). Recorder
	// goroutine only.
	order *feedOrder

	// mu guards recent, series and rstats: the recorder goroutine writes
	// them, Snapshot reads them.
	mu     sync.RWMutex
	rstats routingStats
	recent *ring
	series series
	peers  series // the other replicas' seconds (sums), SharedStore only

	stop      chan struct{}
	done      chan struct{} // closed when the recorder goroutine has exited
	closeOnce sync.Once
	closeErr  error
}

// NewRecorder starts a recorder. With a Store it first restores the counters,
// the last event ID and the latest RecentSize events.
func NewRecorder(opts Options) (*Recorder, error) {
	switch {
	case opts.RecentSize < 0, opts.QueueSize < 0, opts.SubscriberBuffer < 0:
		return nil, errors.New("stats: RecentSize, QueueSize and SubscriberBuffer must not be negative")
	case opts.BatchInterval < 0 || opts.BatchInterval > MaxBatchInterval:
		return nil, fmt.Errorf("stats: BatchInterval %v is outside 0..%v", opts.BatchInterval, MaxBatchInterval)
	}
	r := &Recorder{
		recentSize:    orDefault(opts.RecentSize, DefaultRecentSize),
		batchInterval: orDefault(opts.BatchInterval, DefaultBatchInterval),
		targets:       opts.Targets,
		routing:       opts.Routing,
		store:         opts.Store,
		replica:       opts.Replica,
		peerEvents:    make(chan PeerBatch, 64),
		peerSeries:    make(chan []Bucket, 64),
		metrics:       opts.Metrics,
		log:           opts.Logger,
		start:         time.Now(),
		queue:         make(chan *Event, orDefault(opts.QueueSize, DefaultQueueSize)),
		bus:           newBus(orDefault(opts.SubscriberBuffer, DefaultSubscriberBuffer)),
		stop:          make(chan struct{}),
		done:          make(chan struct{}),
	}
	r.recent = newRing(r.recentSize)
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.store != nil {
		got, err := r.store.Restore(r.recentSize)
		if err != nil {
			return nil, err
		}
		r.setCounters(got.Counters.internal())
		for i := len(got.Recent) - 1; i >= 0; i-- { // oldest first
			sanitize(got.Recent[i])
			r.recent.push(got.Recent[i])
		}
		now := time.Now().Unix()
		for _, b := range got.Series {
			if b.T > now-seriesSeconds && b.T <= now {
				r.series.set(b)
			}
		}
		if sh, ok := r.store.(SharedStore); ok {
			r.shared = sh
			r.order = newFeedOrder(r.recentSize)
		}
	}
	if r.metrics != nil {
		r.metrics.attach(r)
	}
	go r.run()
	if r.shared != nil {
		r.shared.Attach(peerSink{r})
	}
	return r, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Record accounts one finished request. It assigns e.ID, updates the
// counters at once (so they are exact) and hands e to the recorder goroutine
// without waiting; if the queue is full the event is counted in the totals
// but not stored or shown, and DroppedEvents grows. It never blocks and does
// not allocate.
//
// e belongs to the Recorder afterwards: the caller may read it (e.ID
// included) but must not modify it, its Attempts included. After Close,
// events are counted only.
func (r *Recorder) Record(e *Event) {
	e.ID = r.lastID.Add(1)
	e.Replica = r.replica
	// requests before successes: readers load them in the opposite order,
	// so Failures never goes negative.
	r.requests.Add(1)
	if e.Success() {
		r.successes.Add(1)
	}
	if e.Outcome == OutcomeClientGone {
		r.clientGone.Add(1)
	}
	if e.RateLimits != 0 {
		r.rateLimits.Add(int64(e.RateLimits))
	}
	if n := e.Retries(); n != 0 {
		r.retries.Add(int64(n))
	}
	if e.InputTokens != 0 {
		r.inputTokens.Add(int64(e.InputTokens))
	}
	if e.OutputTokens != 0 {
		r.outputTokens.Add(int64(e.OutputTokens))
	}
	if r.closed.Load() {
		r.droppedEvents.Add(1)
		return
	}
	select {
	case r.queue <- e:
	default:
		r.droppedEvents.Add(1)
	}
}

// DroppedEvents reports how many recorded events were not stored or shown
// because the queue was full (or the Recorder closed). They are in the totals.
func (r *Recorder) DroppedEvents() uint64 { return r.droppedEvents.Load() }

// DroppedSubscribers reports how many live-feed subscribers were dropped for
// falling behind.
func (r *Recorder) DroppedSubscribers() uint64 { return r.bus.droppedSubscribers() }

// Subscribe starts a live-feed subscription: an "update" message at most
// every BatchInterval while requests finish. Take the Snapshot after
// subscribing; an update may then repeat events the snapshot already holds
// (same ID: replace, don't add). Close the subscription when done.
func (r *Recorder) Subscribe() *Subscription { return r.bus.subscribe() }

// Snapshot returns the dashboard's current state. It is safe for concurrent
// use and cheap (a copy of the ring and of the 10-minute series).
func (r *Recorder) Snapshot() Snapshot {
	now := time.Now()
	r.mu.RLock()
	recent := r.recent.newestFirst()
	points := combined(&r.series, &r.peers, now.Unix()-seriesSeconds+1, now.Unix())
	windows, models := r.rstats.windows(now), r.rstats.table()
	r.mu.RUnlock()
	s := Snapshot{
		Replica:       r.replica,
		StartTime:     r.start,
		Now:           now,
		UptimeSeconds: now.Sub(r.start).Seconds(),
		Totals:        r.totals(),
		Targets:       r.targetStates(),
		Recent:        recent,
		Series:        points,
		Routing:       r.routingStatus(),
		TargetStats:   windows,
		Models:        models,
	}
	if r.store != nil {
		h := r.store.Health()
		s.Database = &h
	}
	if r.shared != nil {
		s.Replicas = r.shared.Replicas()
	}
	return s
}

func (r *Recorder) routingStatus() *RoutingStatus {
	if r.routing == nil {
		return nil
	}
	return r.routing()
}

// Close stops the recorder goroutine after it has handled the queued events
// and published a last update, closes all subscriptions and writes everything
// to the Store (which stays open). It is safe to call more than once.
func (r *Recorder) Close() error {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		close(r.stop)
		<-r.done
		r.bus.close()
		if r.store != nil {
			r.closeErr = r.store.Sync(r.counters().public())
		}
	})
	return r.closeErr
}

// run is the recorder goroutine.
func (r *Recorder) run() {
	defer close(r.done)
	tick := time.NewTicker(r.batchInterval)
	defer tick.Stop()
	var (
		pending     []*Event // since the last update, capped near RecentSize
		span        secondSpan
		lastStatus  time.Time
		loggedDrops uint64
		loggedAt    time.Time
	)
	// show puts events on the feed: the ring and the next update.
	show := func(events []*Event) {
		r.mu.Lock()
		for _, e := range events {
			r.recent.push(e)
		}
		r.mu.Unlock()
		for _, e := range events {
			pending = r.addPending(pending, e)
		}
	}
	take := func(e *Event) {
		span.add(r.apply(e))
		if r.order != nil {
			r.order.add(e)
		} else {
			pending = r.addPending(pending, e)
		}
	}
	for {
		select {
		case e := <-r.queue:
			take(e)
		case b := <-r.peerEvents:
			for _, e := range b.Events {
				sanitize(e)
			}
			if r.order != nil {
				r.order.batch(b, time.Now())
			} else {
				show(b.Events)
			}
		case bs := <-r.peerSeries:
			now := time.Now().Unix()
			r.mu.Lock()
			for _, b := range bs {
				if b.T > now-seriesSeconds && b.T <= now {
					r.peers.set(b)
					span.add(b.T)
				}
			}
			r.mu.Unlock()
		case <-tick.C:
			if r.order != nil {
				// What was recorded before now is taken first: the horizon
				// counts on it.
				for n := len(r.queue); n > 0; n-- {
					take(<-r.queue)
				}
				r.order.release(time.Now(), show)
			}
			// With a store, an update at least every statusInterval carries
			// the database state and the replicas even without traffic.
			force := r.store != nil && time.Since(lastStatus) >= statusInterval
			if force || len(pending) > 0 || span.set {
				lastStatus = time.Now()
			}
			pending = r.publish(pending, span, force)
			span = secondSpan{}
			if d := r.droppedEvents.Load(); d != loggedDrops && time.Since(loggedAt) >= 10*time.Second {
				r.log.Warn("stats: recorder queue full, requests counted but not stored or shown", "dropped_total", d)
				loggedDrops, loggedAt = d, time.Now()
			}
		case <-r.stop:
			for drained := false; !drained; {
				select {
				case e := <-r.queue:
					take(e)
				default:
					drained = true
				}
			}
			if r.order != nil {
				r.order.releaseAll(show)
			}
			r.publish(pending, span, false)
			return
		}
	}
}

// apply adds e to the series, the metrics and the store, and to the ring
// unless the feed order shows it later, and returns the series second it went to.
func (r *Recorder) apply(e *Event) int64 {
	sanitize(e)
	sec := time.Now().Unix()
	r.mu.Lock()
	if r.order == nil { // else the feed order puts it in the ring (show)
		r.recent.push(e)
	}
	r.series.add(sec, e.LatencyMs, !e.Success())
	if e.ServedModel != "" { // routed by a routing file
		r.rstats.add(e, time.Unix(sec, 0))
	}
	r.mu.Unlock()
	if r.metrics != nil {
		r.metrics.Observe(e)
	}
	if r.store != nil {
		r.store.Add(e, sec, r.counters().public())
	}
	return sec
}

// addPending appends e, keeping only the latest RecentSize events once there
// are twice as many: an update never needs more than the ring holds.
func (r *Recorder) addPending(pending []*Event, e *Event) []*Event {
	pending = append(pending, e)
	if len(pending) >= 2*r.recentSize {
		n := copy(pending, pending[len(pending)-r.recentSize:])
		clear(pending[n:])
		pending = pending[:n]
	}
	return pending
}

// publish sends one update with the pending events, if there are any, and
// the series points of every second from first to last (a batch may span a
// second boundary: the earlier second's final count must reach the page too).
// It returns the emptied slice for reuse.
func (r *Recorder) publish(pending []*Event, span secondSpan, force bool) []*Event {
	if len(pending) == 0 && !span.set && !force {
		return pending
	}
	if r.bus.len() > 0 { // nobody watching: skip the encoding
		events := pending
		if events == nil {
			events = []*Event{}
		}
		if len(events) > r.recentSize {
			events = events[len(events)-r.recentSize:]
		}
		// The series are written only by this goroutine, so reading them needs no lock.
		points := []Point{}
		if span.set {
			points = combined(&r.series, &r.peers, span.first, span.last)
		}
		u := update{
			Events:  events,
			Totals:  r.totals(),
			Targets: r.targetStates(),
			Routing: r.routingStatus(),
			Points:  points,
		}
		// Written only by this goroutine too: no lock needed to read.
		u.TargetStats, u.Models = r.rstats.windows(time.Now()), r.rstats.table()
		if r.store != nil {
			h := r.store.Health()
			u.Database = &h
		}
		if r.shared != nil {
			u.Replicas = r.shared.Replicas()
		}
		msg, err := marshalMessage("update", u)
		if err != nil {
			r.log.Error("stats: encoding a live-feed update", "err", err)
		} else {
			r.bus.publish(msg)
		}
	}
	clear(pending)
	return pending[:0]
}

func (r *Recorder) targetStates() []TargetState {
	if r.targets == nil {
		return []TargetState{}
	}
	if ts := r.targets(); ts != nil {
		return ts
	}
	return []TargetState{}
}

// counters reads the running counters.
func (r *Recorder) counters() counters {
	// successes before requests: see Record.
	successes := r.successes.Load()
	return counters{
		successes:    successes,
		requests:     r.requests.Load(),
		rateLimits:   r.rateLimits.Load(),
		retries:      r.retries.Load(),
		clientGone:   r.clientGone.Load(),
		inputTokens:  r.inputTokens.Load(),
		outputTokens: r.outputTokens.Load(),
		lastID:       r.lastID.Load(),
	}
}

func (r *Recorder) setCounters(c counters) {
	r.requests.Store(c.requests)
	r.successes.Store(c.successes)
	r.rateLimits.Store(c.rateLimits)
	r.retries.Store(c.retries)
	r.clientGone.Store(c.clientGone)
	r.inputTokens.Store(c.inputTokens)
	r.outputTokens.Store(c.outputTokens)
	r.lastID.Store(c.lastID)
}

// totals are this replica's counters plus the other replicas' (SharedStore).
func (r *Recorder) totals() Totals {
	c := r.counters()
	if p := r.peerTotals.Load(); p != nil {
		c = c.plus(*p)
	}
	return c.totals()
}

func (c counters) totals() Totals {
	t := Totals{
		Requests:     c.requests,
		Successes:    c.successes,
		Failures:     c.requests - c.successes,
		RateLimits:   c.rateLimits,
		Retries:      c.retries,
		ClientGone:   c.clientGone,
		InputTokens:  c.inputTokens,
		OutputTokens: c.outputTokens,
	}
	if c.requests > 0 {
		t.SuccessRate = float64(c.successes) / float64(c.requests)
	}
	return t
}

// sanitize caps the stored strings (capStrings) and replaces values JSON cannot encode (NaN, ±Inf, years outside
// 0..9999), so that one odd event cannot break the snapshot or the store. It
// writes only what it fixes, so a caller reading a sound event after Record
// does not race with it.
func sanitize(e *Event) {
	capStrings(e)
	fixFloat(&e.LatencyMs)
	fixFloat(&e.TTFBMs)
	for i := range e.Attempts {
		fixFloat(&e.Attempts[i].DurationMs)
	}
	if y := e.Time.Year(); y < 0 || y > 9999 {
		e.Time = time.Time{}
	}
}

func fixFloat(f *float64) {
	if math.IsNaN(*f) || math.IsInf(*f, 0) {
		*f = 0
	}
}
