package postgres_test

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
