package postgres_test

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/stats/postgres"
	"github.com/llm-proxy/llm-proxy/stats/postgres/pgtest"
)

func openReplica(t *testing.T, url, name string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Options{
		URL: url, Replica: name, Version: "test", Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// changes collects what a Cooldowns applies.
type changes struct {
	mu  sync.Mutex
	got []postgres.Change
}

func (c *changes) apply(ch postgres.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, ch)
}

func (c *changes) kinds() map[string]postgres.Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]postgres.Change{}
	for _, ch := range c.got {
		out[ch.Kind+" "+ch.Target+" "+ch.Model] = ch
	}
	return out
}

func TestCooldowns_Share(t *testing.T) {
	url := pgtest.NewDatabase(t, "")
	a, b := openReplica(t, url, "a"), openReplica(t, url, "b")
	var onA, onB changes
	ca := a.Cooldowns(onA.apply)
	b.Cooldowns(onB.apply)

	until := time.Now().Add(30 * time.Second)
	ca.Learned("t1", "gpt-x", until)
	ca.Share(postgres.Change{Kind: postgres.ChangeDisable, Target: "t2", Until: time.Now().Add(time.Minute), Reason: "401", Quota: false})
	require.Eventually(t, func() bool { return len(onB.kinds()) == 2 }, 2*time.Second, 10*time.Millisecond, "B heard nothing")
	cool := onB.kinds()["cool t1 gpt-x"]
	assert.WithinDuration(t, until, cool.Until, time.Second)
	assert.Equal(t, "401", onB.kinds()["disable t2 "].Reason)
	assert.Empty(t, onA.kinds(), "a replica does not hear its own changes")

	// A replica that starts later reads what is in force.
	var onC changes
	openReplica(t, url, "c").Cooldowns(onC.apply)
	assert.Len(t, onC.kinds(), 2)
	assert.WithinDuration(t, until, onC.kinds()["cool t1 gpt-x"].Until, time.Second)

	// An enabled key is no longer in force; an expired cooldown neither.
	ca.Share(postgres.Change{Kind: postgres.ChangeEnable, Target: "t2"})
	ca.Learned("t3", "", time.Now().Add(-time.Second))
	require.Eventually(t, func() bool { return len(onB.kinds()) == 4 }, 2*time.Second, 10*time.Millisecond)
	var onD changes
	openReplica(t, url, "d").Cooldowns(onD.apply)
	assert.Equal(t, []string{"cool t1 gpt-x"}, keys(onD.kinds()))
}

func keys(m map[string]postgres.Change) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestSessions_SharedAndLogout(t *testing.T) {
	url := pgtest.NewDatabase(t, "")
	a, b := openReplica(t, url, "a"), openReplica(t, url, "b")
	sa, sb := a.Sessions(), b.Sessions()
	ended := make(chan [32]byte, 1)
	sb.OnEnd(func(id [32]byte) { ended <- id })

	id := sha256.Sum256([]byte("token"))
	exp := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	require.NoError(t, sa.Save(id, exp))
	got, ok, err := sb.Lookup(id)
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, exp.Equal(got))

	old := sha256.Sum256([]byte("expired"))
	require.NoError(t, sa.Save(old, time.Now().Add(-time.Second)))
	_, ok, err = sb.Lookup(old)
	require.NoError(t, err)
	assert.False(t, ok, "an expired session is not valid")

	require.NoError(t, sa.Delete(id))
	select {
	case got := <-ended:
		assert.Equal(t, id, got)
	case <-time.After(time.Second):
		t.Fatal("B did not hear the logout within 1 s")
	}
	_, ok, err = sb.Lookup(id)
	require.NoError(t, err)
	assert.False(t, ok)
}

// Two running replicas under one REPLICA_NAME hand out the same record IDs:
// the second batch is refused, counted as dropped, and the writer goes on.
func TestStore_SameReplicaNameTwice(t *testing.T) {
	url := pgtest.NewDatabase(t, "")
	a, b := openReplica(t, url, "same"), openReplica(t, url, "same")
	ra, err := a.Restore(1)
	require.NoError(t, err)
	rb, err := b.Restore(1)
	require.NoError(t, err)
	require.Equal(t, ra.Counters.LastID, rb.Counters.LastID, "one name, one ID range")

	e := &stats.Event{ID: ra.Counters.LastID + 1, Time: time.Now(), Outcome: stats.OutcomeOK}
	c := stats.Counters{Requests: 1, Successes: 1, LastID: e.ID}
	a.Add(e, time.Now().Unix(), c)
	require.NoError(t, a.Sync(c))
	dup := *e
	b.Add(&dup, time.Now().Unix(), c)
	require.Error(t, b.Sync(c))
	assert.Equal(t, uint64(1), b.Health().Dropped)
	assert.True(t, b.Health().OK, "the database is there; only the batch was refused")
}

// batches collects what a store hands the live feed.
type batches struct{ c chan stats.PeerBatch }

func (b batches) PeerTotals(stats.Counters)        {}
func (b batches) PeerSeries([]stats.Bucket)        {}
func (b batches) PeerEvents(batch stats.PeerBatch) { b.c <- batch }

// next returns the next batch from replica, failing after 5 s.
func (b batches) next(t *testing.T, replica string) stats.PeerBatch {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case got := <-b.c:
			if got.Replica == replica {
				return got
			}
		case <-deadline:
			t.Fatalf("no batch from %s within 5 s", replica)
		}
	}
}

// Every flush tells the others up to when the replica's records are
// complete, with new records or without (their live feeds wait for it).
func TestStore_FeedProgressEveryFlush(t *testing.T) {
	url := pgtest.NewDatabase(t, "")
	const every = 100 * time.Millisecond
	open := func(name string) *postgres.Store {
		s, err := postgres.Open(context.Background(), postgres.Options{
			URL: url, Replica: name, Version: "test", FlushInterval: every, Logger: slog.New(slog.DiscardHandler),
		})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open("a"), open("b")
	got := batches{make(chan stats.PeerBatch, 64)}
	b.Attach(got)

	idle := got.next(t, "a")
	assert.Empty(t, idle.Events)
	assert.Equal(t, every, idle.Every)
	require.False(t, idle.Complete.IsZero(), "an idle replica says how far it is")
	assert.WithinDuration(t, time.Now(), idle.Complete, time.Second)

	r, err := a.Restore(1)
	require.NoError(t, err)
	e := &stats.Event{ID: r.Counters.LastID + 1, Time: time.Now().Add(-20 * time.Millisecond), LatencyMs: 20, Outcome: stats.OutcomeOK, Model: "m"}
	a.Add(e, time.Now().Unix(), stats.Counters{Requests: 1, Successes: 1, LastID: e.ID})
	batch := got.next(t, "a")
	for i := 0; len(batch.Events) == 0; i++ {
		require.Less(t, i, 20, "the record never came")
		batch = got.next(t, "a")
	}
	require.Len(t, batch.Events, 1)
	assert.Equal(t, "m", batch.Events[0].Model)
	done := e.Time.Add(20 * time.Millisecond)
	next := got.next(t, "a")
	assert.True(t, next.Complete.After(done), "the next mark is past the record's completion")
	assert.False(t, next.Complete.Before(batch.Complete), "marks never go back")
}

// TestOpen_PoolSize: a replica's pool holds at most max(4, CPUs)
// connections, and pool_max_conns in the URL changes it (README).
func TestOpen_PoolSize(t *testing.T) {
	url := pgtest.NewDatabase(t, "")
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	for _, tc := range []struct {
		url  string
		want int32
	}{
		{url, int32(max(4, runtime.NumCPU()))},
		{url + sep + "pool_max_conns=3", 3},
	} {
		s, err := postgres.Open(context.Background(), postgres.Options{URL: tc.url, Replica: "pool", Version: "test", Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Pool().Config().MaxConns; got != tc.want {
			t.Errorf("%s: pool of %d connections, want %d", tc.url, got, tc.want)
		}
		s.Close()
	}
}
