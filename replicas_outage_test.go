package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llm-proxy/llm-proxy/internal/testkit"
	"github.com/llm-proxy/llm-proxy/stats/postgres/pgtest"
	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// The database goes away for 10 s under load (a throwaway cluster of this
// test's own, so that stopping it disturbs no other test): no client
// request fails, /healthz stays 200, /api/stats says since when the
// database is away, and afterwards the stored count equals what was served.
func TestReplicas_DatabaseStoppedUnderLoad(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	db := cluster.URL("postgres", pgtest.Password)
	up, err := sim.New(sim.Options{ChunkInterval: -1})
	require.NoError(t, err)
	defer up.Close()
	ps := startReplicas(t, up, db, "a", "b", "c")

	var served, failed atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if send(t, ps[i].base) {
					served.Add(1)
				} else {
					failed.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	time.Sleep(time.Second)
	cluster.Stop(t)
	stoppedAt := time.Now()
	// Within a few seconds every replica notices and says so.
	for _, p := range ps {
		require.Eventually(t, func() bool {
			d := snapshot(t, p.base).Database
			return d != nil && !d.OK && d.Since != nil
		}, 5*time.Second, 50*time.Millisecond, "%s: database still reported ok", p.base)
		resp, err := http.Get(p.base + "/healthz")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "/healthz stays 200")
	}
	time.Sleep(10*time.Second - time.Since(stoppedAt))
	cluster.Start(t)
	time.Sleep(time.Second)
	stop.Store(true)
	wg.Wait()

	assert.Zero(t, failed.Load(), "client requests failed while the database was away")
	n := served.Load()
	require.Eventually(t, func() bool {
		return pgtest.QueryInt(t, db, "SELECT COUNT(*) FROM requests") == n
	}, 20*time.Second, 200*time.Millisecond, "stored count never reached the %d served (now %d)", n,
		pgtest.QueryInt(t, db, "SELECT COUNT(*) FROM requests"))
	waitTotals(t, ps, n, 5*time.Second)
	for _, p := range ps {
		d := snapshot(t, p.base).Database
		require.NotNil(t, d)
		assert.True(t, d.OK, p.base)
		assert.Zero(t, d.Dropped, p.base)
	}
	for _, p := range ps {
		assert.NotContains(t, p.output.String(), pgtest.Password, "a log line shows the database password")
	}
}

// runToExit runs the binary with env until it exits (at most 30 s) and
// returns its output and exit code.
func runToExit(t *testing.T, env map[string]string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "MY_ACCESS_KEY=c", "PROXY_URL=https://a/v1", "API_KEY=k",
		"PORT=" + fmt.Sprint(testkit.FreePort(t)), "LISTEN_HOST=127.0.0.1"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	return string(out), ee.ExitCode()
}

func TestStartup_DatabaseErrorsOneLineExit1(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	tests := []struct {
		name, url, want string
	}{
		{"wrong password", cluster.URL("postgres", "not-the-password"), "password authentication failed"},
		{"missing database", cluster.URL("no_such_db", pgtest.Password), `database "no_such_db" does not exist`},
		{"not a URL", "postgres://a b@:x:y/", "DATABASE_URL is not a valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := runToExit(t, map[string]string{"DATABASE_URL": tt.url})
			assert.Equal(t, 1, code)
			assert.Equal(t, 1, strings.Count(strings.TrimSpace(out), "\n")+1, "one line: %s", out)
			assert.Contains(t, out, "DATABASE_URL: ")
			assert.Contains(t, out, tt.want)
			assert.NotContains(t, out, "not-the-password")
		})
	}
}

// A replica started while the database is down waits for it (retrying
// with backoff, logged) instead of crashing, and serves once it is up.
func TestStartup_UnreachableDatabaseIsRetried(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	cluster.Stop(t)
	up, err := sim.New(sim.Options{ChunkInterval: -1})
	require.NoError(t, err)
	defer up.Close()
	env := proxyEnv(up, "memory")
	env["DATABASE_URL"] = cluster.URL("postgres", pgtest.Password)
	port := testkit.FreePort(t)
	cmd := exec.Command(binary)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), fmt.Sprintf("PORT=%d", port), "LISTEN_HOST=127.0.0.1"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &testkit.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill(); <-done }()

	require.Eventually(t, func() bool { return strings.Count(out.String(), "database unreachable, retrying") >= 2 },
		10*time.Second, 50*time.Millisecond, "no retry logged:\n%s", out)
	select {
	case err := <-done:
		t.Fatalf("exited while the database was down: %v\n%s", err, out)
	default:
	}
	cluster.Start(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 100*time.Millisecond, "did not start once the database was up:\n%s", out)
}
