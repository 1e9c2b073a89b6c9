package stats

import (
	"encoding/json"
	"time"
)

// Totals are the running counters since the store was created (or since start
// without a store).
type Totals struct {
	// Requests counts every recorded request.
	Requests int64 `json:"requests"`
	// Successes counts requests whose Outcome is OutcomeOK.
	Successes int64 `json:"successes"`
	// Failures is Requests - Successes.
	Failures int64 `json:"failures"`
	// SuccessRate is Successes / Requests as a fraction 0..1; 0 when there are no requests.
	SuccessRate float64 `json:"success_rate"`
	// RateLimits is the sum of Event.RateLimits (rate-limited attempts, recovered ones included).
	RateLimits int64 `json:"rate_limits"`
	// Retries is the sum of Event.Retries().
	Retries int64 `json:"retries"`
	// ClientGone counts requests whose client left first (OutcomeClientGone).
	ClientGone int64 `json:"client_gone"`
	// InputTokens and OutputTokens sum the upstreams' usage reports.
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
}

// Snapshot is the dashboard's full state, as served by GET /api/stats and sent
// first on every live-feed connection.
type Snapshot struct {
	// Replica is this process's REPLICA_NAME (empty when not set).
	Replica string `json:"replica,omitempty"`
	// StartTime is when this process's Recorder started.
	StartTime time.Time `json:"start_time"`
	// Now is when the snapshot was taken.
	Now time.Time `json:"now"`
	// UptimeSeconds is Now - StartTime in seconds.
	UptimeSeconds float64 `json:"uptime_seconds"`
	// Totals are the counters (exact for this replica: they include events
	// still queued; with a shared store, plus the other replicas' as last
	// read from the database).
	Totals Totals `json:"totals"`
	// Targets are the upstream targets' states; empty without a provider.
	Targets []TargetState `json:"targets"`
	// Recent are the latest events, newest first, at most Options.RecentSize.
	Recent []Event `json:"recent"`
	// Series has one point per second with traffic over the last 10 minutes, oldest first.
	Series []Point `json:"series"`
	// Database is the store's state; nil without a store.
	Database *Health `json:"database,omitempty"`
	// Replicas lists the replicas sharing the store; nil when not shared.
	Replicas []Replica `json:"replicas,omitempty"`
	// Routing is the routing file's state; absent without a routing file.
	Routing *RoutingStatus `json:"routing,omitempty"`
	// TargetStats are each target's attempts over the last 5 minutes, and
	// Models the "by model" table; both only with a routing file.
	TargetStats []TargetWindow `json:"target_stats,omitempty"`
	Models      *ModelTable    `json:"models,omitempty"`
}

// RoutingStatus is the state of the routing file (ROUTING.md).
type RoutingStatus struct {
	// File is the routing file's path.
	File string `json:"file"`
	// LoadedAt is when the running routing was loaded.
	LoadedAt time.Time `json:"loaded_at"`
	// Error is the last reload's one-line error (the running routing stayed); null when it loaded.
	Error *string `json:"error"`
}

// message is one live-feed message: {"type":…,"data":…}.
type message struct {
	Type string `json:"type"`
	Data any    `json:"data"`
}

// update is the data of an "update" message.
type update struct {
	// Events are the events recorded since the previous update, oldest first
	// (at most Options.RecentSize: older ones would fall off the ring anyway).
	Events []*Event `json:"events"`
	// Totals are the counters at the time of the update.
	Totals Totals `json:"totals"`
	// Targets are the target states at the time of the update.
	Targets []TargetState `json:"targets"`
	// Routing is the routing file's state (absent without a routing file).
	Routing *RoutingStatus `json:"routing,omitempty"`
	// TargetStats and Models: as in Snapshot (routing file only).
	TargetStats []TargetWindow `json:"target_stats,omitempty"`
	Models      *ModelTable    `json:"models,omitempty"`
	// Points are the series seconds the batch's events fell in, oldest
	// first; each replaces the page's point with the same t.
	Points []Point `json:"points"`
	// Database is the store's state (nil without a store).
	Database *Health `json:"database,omitempty"`
	// Replicas lists the replicas sharing the store (nil when not shared).
	Replicas []Replica `json:"replicas,omitempty"`
}

// SnapshotMessage returns the live-feed message {"type":"snapshot","data":s}
// that a websocket handler sends first on each connection. Should s not be
// encodable (the Recorder sanitizes events so that it is), the message is
// {"type":"error","data":{"message":…}} instead.
func SnapshotMessage(s Snapshot) []byte {
	b, err := marshalMessage("snapshot", s)
	if err != nil {
		b, _ = marshalMessage("error", map[string]string{"message": err.Error()})
	}
	return b
}

// marshalMessage encodes a live-feed message.
func marshalMessage(typ string, data any) ([]byte, error) {
	return json.Marshal(message{Type: typ, Data: data})
}
