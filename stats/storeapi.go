package stats

import "time"

// Store persists what the Recorder counts: the request log, this replica's
// counters and its per-second series. Two implementations exist: the SQLite
// file of one process (SQLiteStore, in this package) and PostgreSQL shared by
// several replicas (package stats/postgres). The Recorder, and so the
// request path, does not know which one it has.
//
// Add is called for every recorded event and must never block on the
// database; everything else runs off the request path.
type Store interface {
	// Restore reads what a starting Recorder resumes from: this replica's
	// counters (LastID included), the newest recent events (newest first; of
	// every replica when the store is shared) and this replica's series
	// seconds of the last 10 minutes.
	Restore(recent int) (Restored, error)
	// Add queues e, which finished in Unix second sec, for writing, with
	// this replica's counters as they stand after it. It never blocks on
	// the database; e must not change afterwards.
	Add(e *Event, sec int64, c Counters)
	// Sync records c as the latest counters and writes everything pending
	// before it returns (or fails).
	Sync(c Counters) error
	// Health reports whether the database is reachable and how many events
	// could not be stored.
	Health() Health
	// Close writes what is pending, stops the writer and closes the
	// database. It is safe to call more than once.
	Close() error
}

// SharedStore is a Store that several replicas share (PostgreSQL): it
// delivers the other replicas' events, counters and series to the Recorder
// and lists the replicas.
type SharedStore interface {
	Store
	// Attach starts delivering the other replicas' state to p (from
	// another goroutine, in order). It is called once, by NewRecorder.
	Attach(p Peers)
	// Replicas lists the replicas seen recently, this one included.
	Replicas() []Replica
}

// Peers receives the other replicas' state from a SharedStore. The Recorder
// implements it.
type Peers interface {
	// PeerTotals sets the sum of the other replicas' counters (LastID unused).
	PeerTotals(c Counters)
	// PeerEvents hands over what one flush of another replica brought: its
	// new events, and up to when its records are complete.
	PeerEvents(b PeerBatch)
	// PeerSeries sets, for each bucket's second, the sum over the other
	// replicas (replacing what was there for that second).
	PeerSeries(buckets []Bucket)
}

// PeerBatch is what one flush of another replica brings to the live feed.
// A replica sends one every FLUSH_INTERVAL, with or without events, so that
// the others can show every replica's events in order of completion.
type PeerBatch struct {
	// Replica is the sender's REPLICA_NAME.
	Replica string
	// Events are its newly stored events, oldest first; possibly none.
	Events []*Event
	// Complete: every event of Replica that completed before it is in this
	// batch or an earlier one. Zero: unknown (the feed does not wait for
	// this replica).
	Complete time.Time
	// Every is how often the replica sends a batch (its FLUSH_INTERVAL);
	// 0: unknown (DefaultFlushInterval is assumed).
	Every time.Duration
}

// Counters are one replica's running totals as a Store keeps them.
type Counters struct {
	Requests, Successes, RateLimits, Retries, ClientGone int64
	InputTokens, OutputTokens                            int64
	// LastID is the highest Event.ID handed out.
	LastID int64
}

// Bucket is one second of traffic as the store keeps it for the chart.
type Bucket struct {
	// T is the Unix second.
	T int64
	// Requests and Failures count the requests that finished in that second.
	Requests, Failures int64
	// LatencySum is the sum of their latencies in milliseconds.
	LatencySum float64
}

// Restored is what Store.Restore hands a starting Recorder.
type Restored struct {
	// Counters are this replica's persisted counters.
	Counters Counters
	// Recent are the newest events, newest first.
	Recent []*Event
	// Series are this replica's seconds of the last 10 minutes, any order.
	Series []Bucket
}

// Health is the state of a Store's database.
type Health struct {
	// OK is false while the database cannot be written.
	OK bool `json:"ok"`
	// Since is when the database became unavailable (zero while OK).
	Since *time.Time `json:"since,omitempty"`
	// Dropped counts events not stored because the in-memory queue was full
	// (or, for SQLite, a write failed).
	Dropped uint64 `json:"dropped"`
	// Queued is the number of events waiting to be written.
	Queued int `json:"queued"`
	// Recovered is set when the database was found damaged at start and
	// replaced by a fresh one (the dashboard shows a banner).
	Recovered *DatabaseRecovery `json:"recovered,omitempty"`
}

// Replica is one proxy process sharing the store, as the dashboard lists it.
type Replica struct {
	// Name is the replica's REPLICA_NAME.
	Name string `json:"name"`
	// Version is the program version it runs.
	Version string `json:"version"`
	// StartTime is when it started.
	StartTime time.Time `json:"start_time"`
	// LastSeen is its latest heartbeat.
	LastSeen time.Time `json:"last_seen"`
	// Alive is true when it was seen within the last few seconds.
	Alive bool `json:"alive"`
	// InFlight is the number of proxied requests it had in progress.
	InFlight int64 `json:"in_flight"`
}

// public converts the internal counters to the Store's form.
func (c counters) public() Counters {
	return Counters{
		Requests: c.requests, Successes: c.successes, RateLimits: c.rateLimits,
		Retries: c.retries, ClientGone: c.clientGone,
		InputTokens: c.inputTokens, OutputTokens: c.outputTokens, LastID: c.lastID,
	}
}

// internal converts the Store's counters to the internal form.
func (c Counters) internal() counters {
	return counters{
		requests: c.Requests, successes: c.Successes, rateLimits: c.RateLimits,
		retries: c.Retries, clientGone: c.ClientGone,
		inputTokens: c.InputTokens, outputTokens: c.OutputTokens, lastID: c.LastID,
	}
}

// Add counts e, a request that finished in the bucket's second.
func (b *Bucket) Add(e *Event) {
	b.Requests++
	b.LatencySum += e.LatencyMs
	if !e.Success() {
		b.Failures++
	}
}
