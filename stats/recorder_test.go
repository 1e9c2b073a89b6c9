package stats

import (
	"encoding/json"
	"log/slog"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestRecorder(t testing.TB, opts Options) *Recorder {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler) // drops are expected in some tests
	}
	r, err := NewRecorder(opts)
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

// okEvent is a success served by target t1 on the first attempt.
func okEvent() *Event {
	return &Event{
		Time: time.Now(), Method: "POST", Route: "/v1/chat/completions", Family: FamilyOpenAI,
		Model: "gpt-x", Status: 200, Outcome: OutcomeOK, Target: "t1",
		Attempts:  []Attempt{{Target: "t1", Status: 200, Reason: "ok", DurationMs: 40}},
		LatencyMs: 50, TTFBMs: 40, InputTokens: 10, OutputTokens: 20,
	}
}

// retriedEvent was rate limited on t1 and t2, then served by t3.
func retriedEvent() *Event {
	return &Event{
		Time: time.Now(), Method: "POST", Route: "/v1/messages", Family: FamilyAnthropic,
		Model: "claude-x", Stream: true, Status: 200, Outcome: OutcomeOK, Target: "t3",
		Attempts: []Attempt{
			{Target: "t1", Status: 429, Reason: "rate_limit", DurationMs: 5},
			{Target: "t2", Status: 429, Reason: "rate_limit", DurationMs: 6},
			{Target: "t3", Status: 200, Reason: "ok", DurationMs: 30},
		},
		RateLimits: 2, LatencyMs: 900, TTFBMs: 60, InputTokens: 5, OutputTokens: 7, Terminal: true,
	}
}

func goneEvent() *Event {
	return &Event{
		Time: time.Now(), Route: "/v1/chat/completions", Family: FamilyOpenAI, Stream: true,
		Status: 499, Outcome: OutcomeClientGone, Target: "t1",
		Attempts: []Attempt{{Target: "t1", Status: 200, Reason: "ok"}}, LatencyMs: 100, TTFBMs: 10,
	}
}

func TestNewRecorder_options(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr bool
	}{
		{name: "zero value", opts: Options{}},
		{name: "max batch interval", opts: Options{BatchInterval: MaxBatchInterval}},
		{name: "batch interval too long", opts: Options{BatchInterval: 251 * time.Millisecond}, wantErr: true},
		{name: "negative batch interval", opts: Options{BatchInterval: -1}, wantErr: true},
		{name: "negative recent size", opts: Options{RecentSize: -1}, wantErr: true},
		{name: "negative queue", opts: Options{QueueSize: -1}, wantErr: true},
		{name: "negative buffer", opts: Options{SubscriberBuffer: -1}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRecorder(tt.opts)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.NoError(t, r.Close())
		})
	}
}

func TestRecorder_Record(t *testing.T) {
	tests := []struct {
		name   string
		events []*Event
		want   Totals
	}{
		{name: "nothing", want: Totals{}},
		{
			name:   "one success",
			events: []*Event{okEvent()},
			want:   Totals{Requests: 1, Successes: 1, SuccessRate: 1, InputTokens: 10, OutputTokens: 20},
		},
		{
			name:   "recovered rate limits count as rate limits and retries",
			events: []*Event{retriedEvent()},
			want:   Totals{Requests: 1, Successes: 1, SuccessRate: 1, RateLimits: 2, Retries: 2, InputTokens: 5, OutputTokens: 7},
		},
		{
			name:   "client gone is a failure",
			events: []*Event{okEvent(), goneEvent()},
			want:   Totals{Requests: 2, Successes: 1, Failures: 1, SuccessRate: 0.5, ClientGone: 1, InputTokens: 10, OutputTokens: 20},
		},
		{
			name:   "no attempts, no retries",
			events: []*Event{{Status: 400, Outcome: OutcomeBadRequest}},
			want:   Totals{Requests: 1, Failures: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRecorder(t, Options{})
			for i, e := range tt.events {
				r.Record(e)
				assert.Equal(t, int64(i+1), e.ID, "IDs count from 1")
			}
			assert.Equal(t, tt.want, r.Snapshot().Totals, "exact at once, before the goroutine ran")
		})
	}
}

// Many goroutines recording at once: the counters stay exact.
func TestRecorder_Record_concurrent(t *testing.T) {
	r := newTestRecorder(t, Options{QueueSize: 16}) // a small queue: drops must not lose counts
	const goroutines, each = 16, 2000
	var wg sync.WaitGroup
	ids := make([][]int64, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e := okEvent()
				if i%2 == 1 {
					e = retriedEvent()
				}
				r.Record(e)
				ids[g] = append(ids[g], e.ID)
			}
		}()
	}
	wg.Wait()

	const n = goroutines * each
	got := r.Snapshot().Totals
	assert.Equal(t, Totals{
		Requests: n, Successes: n, SuccessRate: 1,
		RateLimits: n / 2 * 2, Retries: n / 2 * 2,
		InputTokens: n/2*10 + n/2*5, OutputTokens: n/2*20 + n/2*7,
	}, got)

	seen := make(map[int64]bool, n)
	for _, list := range ids {
		for _, id := range list {
			require.False(t, seen[id], "duplicate ID %d", id)
			seen[id] = true
		}
	}
	assert.Len(t, seen, n)
	assert.True(t, seen[1] && seen[n], "IDs are 1..n")
}

// With the recorder goroutine held up, a full queue drops events from the
// ring and the store but never from the counters, and Record does not wait.
func TestRecorder_Record_queueFull(t *testing.T) {
	r := newTestRecorder(t, Options{QueueSize: 1})
	r.mu.Lock() // the goroutine blocks in apply on the first event it takes
	for range 10 {
		r.Record(okEvent())
	}
	dropped := r.DroppedEvents()
	assert.GreaterOrEqual(t, dropped, uint64(8), "at most one in the goroutine and one queued")
	r.mu.Unlock()
	require.NoError(t, r.Close())

	s := r.Snapshot()
	assert.Equal(t, int64(10), s.Totals.Requests)
	assert.Len(t, s.Recent, 10-int(dropped))
}

func TestRecorder_Record_afterClose(t *testing.T) {
	r := newTestRecorder(t, Options{})
	require.NoError(t, r.Close())
	e := okEvent()
	r.Record(e) // must not panic or block
	assert.Equal(t, int64(1), e.ID)
	assert.Equal(t, int64(1), r.Snapshot().Totals.Requests)
	assert.Equal(t, uint64(1), r.DroppedEvents())
	require.NoError(t, r.Close(), "Close twice is fine")
}

func TestRecorder_Record_sanitizes(t *testing.T) {
	r := newTestRecorder(t, Options{})
	e := okEvent()
	e.LatencyMs = math.NaN()
	e.Attempts[0].DurationMs = math.Inf(1)
	e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	r.Record(e)
	require.NoError(t, r.Close())

	var msg struct{ Type string }
	require.NoError(t, json.Unmarshal(SnapshotMessage(r.Snapshot()), &msg))
	assert.Equal(t, "snapshot", msg.Type)
}

func TestRecorder_Snapshot(t *testing.T) {
	targets := []TargetState{{Name: "t1", State: "ok"}, {Name: "t2", State: "cooling"}}
	r := newTestRecorder(t, Options{RecentSize: 3, Targets: func() []TargetState { return targets }})
	before := time.Now()
	for range 5 {
		r.Record(okEvent())
	}
	r.Record(goneEvent())
	require.NoError(t, r.Close()) // the goroutine has applied everything

	s := r.Snapshot()
	var ids []int64
	for _, e := range s.Recent {
		ids = append(ids, e.ID)
	}
	assert.Equal(t, []int64{6, 5, 4}, ids, "newest first, at most RecentSize")
	assert.Equal(t, targets, s.Targets)
	assert.Equal(t, int64(6), s.Totals.Requests)
	assert.False(t, s.StartTime.After(before))
	assert.GreaterOrEqual(t, s.UptimeSeconds, 0.0)

	var requests, failures int64
	for _, p := range s.Series {
		requests += p.Requests
		failures += p.Failures
		assert.LessOrEqual(t, p.T, s.Now.Unix())
	}
	assert.Equal(t, int64(6), requests)
	assert.Equal(t, int64(1), failures)
}

func TestRecorder_Snapshot_empty(t *testing.T) {
	r := newTestRecorder(t, Options{Targets: func() []TargetState { return nil }})
	b, err := json.Marshal(r.Snapshot())
	require.NoError(t, err)
	assert.Contains(t, string(b), `"targets":[]`)
	assert.Contains(t, string(b), `"recent":[]`)
	assert.Contains(t, string(b), `"series":[]`)
}

// updateMsg is the live-feed update as a dashboard decodes it.
type updateMsg struct {
	Type string `json:"type"`
	Data struct {
		Events  []Event       `json:"events"`
		Totals  Totals        `json:"totals"`
		Targets []TargetState `json:"targets"`
		Points  []Point       `json:"points"`
	} `json:"data"`
}

func TestRecorder_Subscribe(t *testing.T) {
	r := newTestRecorder(t, Options{BatchInterval: 10 * time.Millisecond})
	sub := r.Subscribe()
	defer sub.Close()
	for range 3 {
		r.Record(okEvent())
	}

	var ids []int64
	var last updateMsg
	deadline := time.After(10 * time.Second)
	for len(ids) < 3 {
		select {
		case b, ok := <-sub.C():
			require.True(t, ok, "subscription closed early")
			var m updateMsg
			require.NoError(t, json.Unmarshal(b, &m))
			require.Equal(t, "update", m.Type)
			require.NotEmpty(t, m.Data.Events, "an update carries new events")
			for _, e := range m.Data.Events {
				ids = append(ids, e.ID)
			}
			last = m
		case <-deadline:
			t.Fatalf("got events %v, want 3 within 10s", ids)
		}
	}
	assert.Equal(t, []int64{1, 2, 3}, ids, "oldest first")
	assert.Equal(t, int64(3), last.Data.Totals.Requests)
	assert.NotNil(t, last.Data.Targets)
	require.NotEmpty(t, last.Data.Points)
	assert.Positive(t, last.Data.Points[len(last.Data.Points)-1].Requests)

	require.NoError(t, r.Close())
	drainClosed(t, sub.C()) // Close ends subscriptions
}

func TestRecorder_Subscribe_updateKeepsLatest(t *testing.T) {
	r := newTestRecorder(t, Options{RecentSize: 2, BatchInterval: MaxBatchInterval})
	sub := r.Subscribe()
	r.mu.Lock() // hold the goroutine so all events land in one update
	for range 7 {
		r.Record(okEvent())
	}
	r.mu.Unlock()
	require.NoError(t, r.Close()) // publishes the last update

	var ids []int64
	for b := range sub.C() {
		var m updateMsg
		require.NoError(t, json.Unmarshal(b, &m))
		assert.LessOrEqual(t, len(m.Data.Events), 2, "an update carries at most RecentSize events")
		for _, e := range m.Data.Events {
			ids = append(ids, e.ID)
		}
	}
	require.GreaterOrEqual(t, len(ids), 2)
	assert.Equal(t, []int64{6, 7}, ids[len(ids)-2:], "the last update ends with the newest events")
}

// A dashboard that never reads is dropped and counted; Record never waits.
func TestRecorder_Record_stuckSubscriber(t *testing.T) {
	r := newTestRecorder(t, Options{BatchInterval: time.Millisecond, SubscriberBuffer: 1})
	stuck := r.Subscribe()

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 1_000_000 && r.DroppedSubscribers() == 0; i++ {
			r.Record(okEvent())
			if i%100 == 0 {
				time.Sleep(time.Millisecond) // let batches go out
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Record blocked")
	}
	assert.Equal(t, uint64(1), r.DroppedSubscribers())
	assert.Equal(t, 1, drainClosed(t, stuck.C()), "closed after what fit")
}

func TestRecorder_Close(t *testing.T) {
	r := newTestRecorder(t, Options{BatchInterval: MaxBatchInterval})
	sub := r.Subscribe()
	r.Record(okEvent())
	require.NoError(t, r.Close())

	b, ok := <-sub.C()
	require.True(t, ok, "Close publishes what was pending")
	var m updateMsg
	require.NoError(t, json.Unmarshal(b, &m))
	assert.Len(t, m.Data.Events, 1)
	_, ok = <-sub.C()
	assert.False(t, ok, "then closes the subscription")

	late := r.Subscribe()
	_, ok = <-late.C()
	assert.False(t, ok, "subscribing after Close gives a closed subscription")
}

// Counters, the last ID and the recent events survive a restart.
func TestRecorder_restore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "stats.db")
	open := func() *SQLiteStore {
		s, err := OpenStore(StoreOptions{Path: path, FlushInterval: time.Hour})
		require.NoError(t, err)
		return s
	}

	store := open()
	r, err := NewRecorder(Options{Store: store})
	require.NoError(t, err)
	r.Record(okEvent())
	r.Record(retriedEvent())
	r.Record(goneEvent())
	want := r.Snapshot().Totals
	require.NoError(t, r.Close())
	require.NoError(t, store.Close())

	store = open()
	defer store.Close()
	r, err = NewRecorder(Options{Store: store, RecentSize: 2})
	require.NoError(t, err)
	defer r.Close()

	s := r.Snapshot()
	assert.Equal(t, want, s.Totals)
	require.Len(t, s.Recent, 2, "RecentSize of them, newest first")
	assert.Equal(t, int64(3), s.Recent[0].ID)
	assert.Equal(t, OutcomeClientGone, s.Recent[0].Outcome)
	got := s.Recent[1]
	wantEvent := retriedEvent()
	assert.Equal(t, int64(2), got.ID)
	assert.Equal(t, wantEvent.Attempts, got.Attempts, "attempt trail kept")
	assert.Equal(t, wantEvent.Model, got.Model)
	assert.True(t, got.Terminal)

	e := okEvent()
	r.Record(e)
	assert.Equal(t, int64(4), e.ID, "IDs continue after the restored ones")
}

// Record allocates nothing of its own.
func TestRecorder_Record_allocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	const runs = 100
	r := newTestRecorder(t, Options{QueueSize: 2 * runs})
	events := make([]*Event, runs+1) // AllocsPerRun runs once more to warm up
	for i := range events {
		events[i] = okEvent()
	}
	r.mu.Lock() // keep the goroutine (and its allocations) out of the count
	defer r.mu.Unlock()
	i := 0
	allocs := testing.AllocsPerRun(runs, func() {
		r.Record(events[i])
		i++
	})
	assert.Zero(t, allocs)
	assert.Zero(t, r.DroppedEvents())
}

func BenchmarkRecorder_Record(b *testing.B) {
	r := newTestRecorder(b, Options{})
	b.ReportAllocs()
	const chunk = 10_000
	events := make([]*Event, chunk)
	for i := 0; i < b.N; i++ {
		if i%chunk == 0 { // fresh events: a recorded one must not be touched again
			b.StopTimer()
			for j := range events {
				events[j] = okEvent()
			}
			b.StartTimer()
		}
		r.Record(events[i%chunk])
	}
	b.StopTimer()
	b.ReportMetric(float64(r.DroppedEvents())/float64(b.N), "dropped/op")
}

func BenchmarkRecorder_Record_parallel(b *testing.B) {
	r := newTestRecorder(b, Options{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Record(okEvent()) // the event's own allocation is counted here
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(r.DroppedEvents())/float64(b.N), "dropped/op")
}
