package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llm-proxy/llm-proxy/stats/postgres/pgtest"
	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// Keys of the routing file's one target: openai#1 is the bad one.
const (
	badKey  = "sk-bad-key-TEST-0001"
	goodKey = "sk-good-key-TEST-0002"
)

// keyLog records what the simulated upstream got: per request, the
// replica (the X-Replica header the routing file adds to every upstream
// request), the key and when.
type keyLog struct {
	mu   sync.Mutex
	hits []keyHit
}

type keyHit struct {
	replica, key string
	at           time.Time
}

func newKeyLog() *keyLog { return &keyLog{} }

// hook is the sim's Options.Hook: it records and lets the request through.
func (l *keyLog) hook(r sim.Received) *sim.Step {
	h := keyHit{r.Header.Get("X-Replica"), r.Key, time.Now()}
	l.mu.Lock()
	l.hits = append(l.hits, h)
	l.mu.Unlock()
	return nil
}

// match reports the hits of replica ("" any but except) with key.
func (l *keyLog) match(replica, except, key string) []keyHit {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []keyHit
	for _, h := range l.hits {
		if (replica == "" || h.replica == replica) && h.replica != except && h.key == key {
			out = append(out, h)
		}
	}
	return out
}

// count is how many requests replica ("" all replicas) sent with key.
func (l *keyLog) count(replica, key string) int { return len(l.match(replica, "", key)) }

// lastAt is when replica last sent key (zero: never).
func (l *keyLog) lastAt(replica, key string) time.Time {
	hs := l.match(replica, "", key)
	if len(hs) == 0 {
		return time.Time{}
	}
	return hs[len(hs)-1].at
}

// othersSince lists the hits with key from replicas other than except at or after since.
func (l *keyLog) othersSince(except, key string, since time.Time) []string {
	var out []string
	for _, h := range l.match("", except, key) {
		if !h.at.Before(since) {
			out = append(out, fmt.Sprintf("%s +%v", h.replica, h.at.Sub(since)))
		}
	}
	return out
}

// counts describes every (replica, key) count, for failure messages.
func (l *keyLog) counts() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := map[[2]string]int{}
	for _, h := range l.hits {
		n[[2]string{h.replica, h.key}]++
	}
	return fmt.Sprint(n)
}

// routedReplicas starts routed replicas on one database: a routing file whose
// one target has two keys (openai#1 = badKey, openai#2 = goodKey), each
// replica adding X-Replica to its upstream requests.
type routedReplicas struct {
	t    *testing.T
	db   string
	file string
	env  map[string]string
}

func newRoutedReplicas(t *testing.T, up *sim.Server, env map[string]string) *routedReplicas {
	path := filepath.Join(t.TempDir(), "llm-proxy.yaml")
	file := "targets:\n  - name: openai\n    url: \"" + up.URL() + "\"\n    keys: [\"${KEY_1}\", \"${KEY_2}\"]\n" +
		"    headers: {X-Replica: \"${REPLICA_NAME}\"}\n"
	require.NoError(t, os.WriteFile(path, []byte(file), 0o600))
	return &routedReplicas{t: t, db: pgtest.NewDatabase(t, ""), file: path, env: env}
}

func (r *routedReplicas) start(name string) *proc {
	env := map[string]string{
		"CONFIG_FILE": r.file, "KEY_1": badKey, "KEY_2": goodKey,
		"MY_ACCESS_KEY": clientKey, "DB_PATH": "memory", "FLUSH_INTERVAL": replicaFlush.String(),
		"DATABASE_URL": r.db, "REPLICA_NAME": name,
	}
	for k, v := range r.env {
		env[k] = v
	}
	return start(r.t, env)
}

// keyState is the state /api/stats of base shows for target name ("" when not listed).
func keyState(t *testing.T, base, name string) string {
	for _, ts := range snapshot(t, base).Targets {
		if ts.Name == name {
			return ts.State
		}
	}
	return ""
}

// waitKeyState polls base until target name is in state want, failing after
// 10 s (a generous bound; callers assert the delay they need), and returns
// how long after since it was seen.
func waitKeyState(t *testing.T, base, name, want string, since time.Time) time.Duration {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := keyState(t, base, name)
		if got == want {
			return time.Since(since)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s is %q %v after, want %q", base, name, got, time.Since(since), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sendUntilKey sends requests to p (replica name) until the upstream saw
// key from it once more (at most 6 requests: two keys in rotation), each
// answered 200. It returns when the request that carried the key was sent.
func sendUntilKey(t *testing.T, p *proc, name string, log *keyLog, key string) (sent time.Time) {
	t.Helper()
	n := log.count(name, key) + 1
	for i := 0; log.count(name, key) < n; i++ {
		require.Less(t, i, 6, "%s never sent the key (%s)", name, log.counts())
		sent = time.Now()
		require.True(t, send(t, p.base), "%s: a request failed", name)
	}
	return sent
}

// A key revoked at the upstream, learned by A: B and C honour it within
// 1 s and never send it, and a replica started later reads it and never
// sends it either.
func TestReplicas_SharedDisabledKey(t *testing.T) {
	log := newKeyLog()
	up, err := sim.New(sim.Options{ChunkInterval: -1, Hook: log.hook})
	require.NoError(t, err)
	defer up.Close()
	up.SetKeyState(badKey, sim.KeyRevoked)
	rr := newRoutedReplicas(t, up, nil)
	a, b, c := rr.start("a"), rr.start("b"), rr.start("c")

	sendUntilKey(t, a, "a", log, badKey)
	learned := log.lastAt("a", badKey)
	require.Equal(t, "disabled", keyState(t, a.base, "openai#1"))

	for _, p := range []*proc{b, c} {
		d := waitKeyState(t, p.base, "openai#1", "disabled", learned)
		t.Logf("%s shows the key disabled %v after A learned it", p.base, d)
		assert.LessOrEqual(t, d, time.Second, "%s honoured A's disabled key only after %v", p.base, d)
	}
	for i := range 20 {
		require.True(t, send(t, []*proc{b, c}[i%2].base))
	}
	assert.Equal(t, 1, log.count("", badKey), "B or C sent the disabled key upstream: %s", log.counts())
	assert.Equal(t, 20, log.count("b", goodKey)+log.count("c", goodKey), "B and C served on the good key")

	late := rr.start("late")
	assert.Equal(t, "disabled", keyState(t, late.base, "openai#1"), "the late replica did not read the disabled key")
	for range 10 {
		require.True(t, send(t, late.base))
	}
	assert.Zero(t, log.count("late", badKey), "the late replica sent the disabled key upstream: %s", log.counts())
	assert.Equal(t, 10, log.count("late", goodKey))
}

// A key out of quota, learned by A, is disabled on every replica (a late
// one included) until QUOTA_RETRY_INTERVAL after A learned it; then it is
// on probation everywhere: a real request on B tries it, the same answer
// disables it again on all within 1 s; once the key works, a success on C's
// probation enables it on all within 1 s.
func TestReplicas_SharedQuotaProbation(t *testing.T) {
	const interval = 4 * time.Second
	log := newKeyLog()
	up, err := sim.New(sim.Options{ChunkInterval: -1, Hook: log.hook})
	require.NoError(t, err)
	defer up.Close()
	up.SetKeyState(badKey, sim.KeyQuotaExhausted)
	rr := newRoutedReplicas(t, up, map[string]string{"QUOTA_RETRY_INTERVAL": interval.String()})
	a, b, c := rr.start("a"), rr.start("b"), rr.start("c")
	all := map[string]*proc{"a": a, "b": b, "c": c}

	// A learns it; the others honour it within 1 s, and until probation
	// nobody sends it, a replica started later neither.
	sent := sendUntilKey(t, a, "a", log, badKey)
	learned := log.lastAt("a", badKey)
	for _, name := range []string{"b", "c"} {
		d := waitKeyState(t, all[name].base, "openai#1", "disabled", learned)
		t.Logf("%s shows the key disabled %v after A learned it", name, d)
		assert.LessOrEqual(t, d, time.Second, "%s honoured A's disabled key only after %v", name, d)
	}
	all["late"] = rr.start("late")
	assert.Equal(t, "disabled", keyState(t, all["late"].base, "openai#1"), "the late replica did not read the disabled key")
	for i := range 12 {
		require.True(t, send(t, all[[]string{"b", "c", "late"}[i%3]].base))
	}
	assert.Empty(t, log.othersSince("a", badKey, learned.Add(-time.Minute)), "sent before its probation (A learned at +0)")

	// Probation everywhere, not before QUOTA_RETRY_INTERVAL (counted from
	// before A's request; a millisecond of slack for the duration's rounding).
	for name, p := range all {
		d := waitKeyState(t, p.base, "openai#1", "probation", sent)
		t.Logf("%s: probation %v after A's request", name, d)
		assert.GreaterOrEqual(t, d, interval-time.Millisecond, "%s: on probation before QUOTA_RETRY_INTERVAL", name)
	}

	// Still out of quota: B's next real request tries it, which disables
	// it again everywhere within 1 s.
	sent = sendUntilKey(t, b, "b", log, badKey)
	relearned := log.lastAt("b", badKey)
	for _, name := range []string{"a", "c", "late"} {
		d := waitKeyState(t, all[name].base, "openai#1", "disabled", relearned)
		t.Logf("%s shows the key disabled again %v after B's probation request", name, d)
		assert.LessOrEqual(t, d, time.Second, "%s honoured B's disable only after %v", name, d)
	}
	for i := range 12 {
		require.True(t, send(t, all[[]string{"a", "c", "late"}[i%3]].base))
	}
	assert.Empty(t, log.othersSince("b", badKey, relearned), "sent after B disabled it again")

	// The key works again: at the end of its new probation wait, C's
	// request succeeds on it and every replica uses it again within 1 s.
	up.SetKeyState(badKey, sim.KeyOK)
	d := waitKeyState(t, c.base, "openai#1", "probation", sent)
	assert.GreaterOrEqual(t, d, interval-time.Millisecond, "C: on probation again before QUOTA_RETRY_INTERVAL")
	sendUntilKey(t, c, "c", log, badKey)
	recovered := log.lastAt("c", badKey)
	assert.Equal(t, "ready", keyState(t, c.base, "openai#1"))
	for _, name := range []string{"a", "b", "late"} {
		d := waitKeyState(t, all[name].base, "openai#1", "ready", recovered)
		t.Logf("%s shows the key ready %v after C's success", name, d)
		assert.LessOrEqual(t, d, time.Second, "%s learned of C's success only after %v", name, d)
		sendUntilKey(t, all[name], name, log, badKey)
	}
}
