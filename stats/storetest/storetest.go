// Package storetest is the conformance suite every stats.Store passes: one
// set of tests, run against SQLite (package stats) and PostgreSQL (package
// stats/postgres) on real databases.
package storetest

import (
	"fmt"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llm-proxy/llm-proxy/stats"
)

// Options are what the suite varies when it opens a store.
type Options struct {
	RetentionRows int
	RetentionDays int
	FlushInterval time.Duration
}

// Opener opens the store under test. Every call within one test opens the
// same database (a reopen after Close sees what was written before).
type Opener func(o Options) (stats.Store, error)

// Run runs the suite. newEnv makes a fresh, empty database for one test and
// returns its opener; the database must be removed when t ends.
func Run(t *testing.T, newEnv func(t *testing.T) Opener) {
	t.Run("Restore_empty", func(t *testing.T) { testRestoreEmpty(t, newEnv(t)) })
	t.Run("Sync_roundTrip", func(t *testing.T) { testRoundTrip(t, newEnv(t)) })
	t.Run("Add_flushesWithinInterval", func(t *testing.T) { testFlushInterval(t, newEnv(t)) })
	t.Run("Close_idempotent", func(t *testing.T) { testClose(t, newEnv(t)) })
	t.Run("Retention_rows", func(t *testing.T) { testRetentionRows(t, newEnv(t)) })
	t.Run("Retention_days", func(t *testing.T) { testRetentionDays(t, newEnv(t)) })
	t.Run("Recorder_restart", func(t *testing.T) { testRecorderRestart(t, newEnv(t)) })
}

func open(t *testing.T, op Opener, o Options) stats.Store {
	t.Helper()
	s, err := op(o)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func event(id int64, at time.Time, ok bool) *stats.Event {
	e := &stats.Event{
		ID: id, Time: at, Method: "POST", Route: "/v1/chat/completions", Family: stats.FamilyOpenAI,
		Model: fmt.Sprintf("m-%d", id), Status: 200, Outcome: stats.OutcomeOK, Target: "t1",
		Attempts:  []stats.Attempt{{Target: "t0", Status: 429, Reason: "rate_limit", DurationMs: 3}, {Target: "t1", Status: 200, Reason: "ok", DurationMs: 40}},
		LatencyMs: 50, TTFBMs: 40, InputTokens: 10, OutputTokens: 20, RateLimits: 1,
	}
	if !ok {
		e.Status, e.Outcome, e.Error = 502, stats.OutcomeUnreachable, "connect refused"
	}
	return e
}

// addEvents hands n events after base to s (two per second, one in three
// failed) and returns the counters after them.
func addEvents(s stats.Store, c stats.Counters, n int, at time.Time) stats.Counters {
	for i := range n {
		c.LastID++
		e := event(c.LastID, at, i%3 != 2)
		c.Requests++
		if e.Success() {
			c.Successes++
		}
		c.RateLimits++
		c.Retries++
		c.InputTokens += 10
		c.OutputTokens += 20
		s.Add(e, at.Unix()+int64(i/2), c)
	}
	return c
}

func testRestoreEmpty(t *testing.T, op Opener) {
	s := open(t, op, Options{})
	got, err := s.Restore(10)
	require.NoError(t, err)
	assert.Empty(t, got.Recent)
	assert.Empty(t, got.Series)
	assert.Zero(t, got.Counters.Requests)
	assert.GreaterOrEqual(t, got.Counters.LastID, int64(0))
	h := s.Health()
	assert.True(t, h.OK)
	assert.Zero(t, h.Dropped)
}

func testRoundTrip(t *testing.T, op Opener) {
	s := open(t, op, Options{FlushInterval: time.Hour})
	first, err := s.Restore(10)
	require.NoError(t, err)
	at := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	want := addEvents(s, first.Counters, 7, at)
	require.NoError(t, s.Sync(want))
	require.NoError(t, s.Close())

	s = open(t, op, Options{FlushInterval: time.Hour})
	got, err := s.Restore(5)
	require.NoError(t, err)
	assert.Equal(t, want, got.Counters)
	require.Len(t, got.Recent, 5)
	ids := make([]int64, len(got.Recent))
	for i, e := range got.Recent {
		ids[i] = e.ID
	}
	assert.ElementsMatch(t, []int64{want.LastID, want.LastID - 1, want.LastID - 2, want.LastID - 3, want.LastID - 4}, ids)
	var e *stats.Event
	for _, r := range got.Recent {
		if r.ID == want.LastID {
			e = r
		}
	}
	require.NotNil(t, e)
	wantEvent := event(want.LastID, at, 6%3 != 2)
	assert.Equal(t, wantEvent.Attempts, e.Attempts)
	assert.Equal(t, wantEvent.Model, e.Model)
	assert.True(t, wantEvent.Time.Equal(e.Time))

	sort.Slice(got.Series, func(i, j int) bool { return got.Series[i].T < got.Series[j].T })
	require.Len(t, got.Series, 4, "7 events, two per second")
	assert.Equal(t, stats.Bucket{T: at.Unix(), Requests: 2, Failures: 0, LatencySum: 100}, got.Series[0])
	assert.Equal(t, stats.Bucket{T: at.Unix() + 1, Requests: 2, Failures: 1, LatencySum: 100}, got.Series[1])
	assert.Equal(t, int64(1), got.Series[3].Requests)
}

func testFlushInterval(t *testing.T, op Opener) {
	s := open(t, op, Options{FlushInterval: 50 * time.Millisecond})
	first, err := s.Restore(10)
	require.NoError(t, err)
	c := addEvents(s, first.Counters, 3, time.Now())
	// Without Sync: the writer commits on its own within the interval.
	// A second store on the same database sees it.
	other := open(t, op, Options{FlushInterval: time.Hour})
	require.Eventually(t, func() bool {
		got, err := other.Restore(10)
		return err == nil && len(got.Recent) == 3
	}, 5*time.Second, 20*time.Millisecond)
	require.NoError(t, s.Sync(c))
}

func testClose(t *testing.T, op Opener) {
	s := open(t, op, Options{})
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "twice is fine")
	assert.Error(t, s.Sync(stats.Counters{}))
	s.Add(event(1, time.Now(), true), 1, stats.Counters{}) // ignored, no panic
}

func testRetentionRows(t *testing.T, op Opener) {
	s := open(t, op, Options{})
	first, err := s.Restore(1)
	require.NoError(t, err)
	c := first.Counters
	base := time.Now().Add(-time.Hour)
	for i := range 12 {
		c = addEvents(s, c, 1, base.Add(time.Duration(i)*time.Second))
	}
	require.NoError(t, s.Sync(c))
	require.NoError(t, s.Close())

	s = open(t, op, Options{RetentionRows: 5}) // retention runs at open
	got, err := s.Restore(100)
	require.NoError(t, err)
	require.Len(t, got.Recent, 5)
	for _, e := range got.Recent {
		assert.Greater(t, e.ID, c.LastID-5, "the newest are kept")
	}
	assert.Equal(t, c.Requests, got.Counters.Requests, "retention never touches the totals")
}

func testRetentionDays(t *testing.T, op Opener) {
	s := open(t, op, Options{})
	first, err := s.Restore(1)
	require.NoError(t, err)
	c := addEvents(s, first.Counters, 3, time.Now().AddDate(0, 0, -3))
	c = addEvents(s, c, 2, time.Now())
	require.NoError(t, s.Sync(c))
	require.NoError(t, s.Close())

	s = open(t, op, Options{RetentionDays: 2})
	got, err := s.Restore(100)
	require.NoError(t, err)
	assert.Len(t, got.Recent, 2)
}

func testRecorderRestart(t *testing.T, op Opener) {
	quiet := slog.New(slog.DiscardHandler)
	s := open(t, op, Options{FlushInterval: time.Hour})
	r, err := stats.NewRecorder(stats.Options{Store: s, Logger: quiet, Replica: "r1"})
	require.NoError(t, err)
	for i := range 6 {
		r.Record(event(0, time.Now(), i != 0))
	}
	require.NoError(t, r.Close())
	before := r.Snapshot()
	require.NoError(t, s.Close())

	s = open(t, op, Options{FlushInterval: time.Hour})
	r, err = stats.NewRecorder(stats.Options{Store: s, Logger: quiet, Replica: "r1"})
	require.NoError(t, err)
	defer r.Close()
	after := r.Snapshot()
	assert.Equal(t, before.Totals, after.Totals)
	require.Len(t, after.Recent, 6)
	assert.Equal(t, "r1", after.Recent[0].Replica)
	assert.Equal(t, before.Series, after.Series, "the chart survives a restart")
	require.NotEmpty(t, after.Series)
	require.NotNil(t, after.Database)
	assert.True(t, after.Database.OK)

	e := event(0, time.Now(), true)
	r.Record(e)
	assert.Equal(t, before.Recent[0].ID+1, e.ID, "IDs continue after the restored ones")
}
