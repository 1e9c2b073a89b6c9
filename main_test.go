package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llm-proxy/llm-proxy/handlers/dashboard/dashboardtest"
	"github.com/llm-proxy/llm-proxy/internal/testkit"
	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// These tests run the real binary as a child process: signals, exit codes
// and crash safety can only be seen from outside.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "llm-proxy-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = os.Chmod(dir, 0o755) // another user may run it (TestStartup_UnwritableDataFolderSaysSo)
	binary = filepath.Join(dir, "llm-proxy")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	clientKey   = "client-key-TEST-1234"
	upstreamKey = "sk-upstream-TEST-5678"
)

// proc is a running proxy child process.
type proc struct {
	cmd    *exec.Cmd
	base   string
	output *testkit.SyncBuffer
	done   chan error
}

// start runs the binary with env (plus a free PORT) and waits until it serves.
func start(t *testing.T, env map[string]string, args ...string) *proc {
	t.Helper()
	port := testkit.FreePort(t)
	cmd := exec.Command(binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), fmt.Sprintf("PORT=%d", port), "LISTEN_HOST=127.0.0.1"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), output: &testkit.SyncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.output, p.output
	require.NoError(t, cmd.Start())
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		time.Sleep(30 * time.Millisecond)
	}
	t.Fatalf("proxy did not start:\n%s", p.output.String())
	return nil
}

func (p *proc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for Cleanup
		return err
	case <-time.After(d):
		t.Fatalf("proxy did not exit within %v:\n%s", d, p.output.String())
		return nil
	}
}

func proxyEnv(up *sim.Server, dbPath string) map[string]string {
	return map[string]string{
		"PROXY_URL":      up.URL(),
		"API_KEY":        upstreamKey,
		"MY_ACCESS_KEY":  clientKey,
		"DB_PATH":        dbPath,
		"FLUSH_INTERVAL": "200ms",
	}
}

func chatRequest(t *testing.T, base string, stream bool) *http.Request {
	body := `{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}`
	if stream {
		body = `{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	}
	req, err := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+clientKey)
	req.Header.Set("Content-Type", "application/json")
	return req
}

// reopen reads the database the way a restarted proxy does.
func reopen(t *testing.T, path string) stats.Snapshot {
	t.Helper()
	st, err := stats.OpenStore(stats.StoreOptions{Path: path})
	require.NoError(t, err, "the database opens cleanly")
	rec, err := stats.NewRecorder(stats.Options{Store: st, RecentSize: 50})
	require.NoError(t, err)
	snap := rec.Snapshot()
	require.NoError(t, rec.Close())
	require.NoError(t, st.Close())
	return snap
}

func TestSIGTERM_LetsStreamFinishAndStoresIt(t *testing.T) {
	up, err := sim.New(sim.Options{StreamChunks: 15, ChunkInterval: 100 * time.Millisecond})
	require.NoError(t, err)
	defer up.Close()
	db := filepath.Join(t.TempDir(), "data", "llm-proxy.db")
	p := start(t, proxyEnv(up, db))

	resp, err := http.DefaultClient.Do(chatRequest(t, p.base, true))
	require.NoError(t, err)
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	first, err := r.ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, first, "data: ")

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	rest, err := io.ReadAll(r)
	require.NoError(t, err, "the stream in flight is not cut by the shutdown")
	assert.True(t, strings.HasSuffix(string(rest), "data: [DONE]\n\n"), "the stream ends with its own terminal marker")

	require.NoError(t, p.wait(t, 10*time.Second), "clean exit:\n%s", p.output.String())
	_, err = http.Get(p.base + "/healthz")
	assert.Error(t, err, "no longer accepting")

	snap := reopen(t, db)
	require.Equal(t, int64(1), snap.Totals.Requests, "the record of the stream was flushed at shutdown")
	require.Len(t, snap.Recent, 1)
	assert.Equal(t, stats.OutcomeOK, snap.Recent[0].Outcome)
	assert.True(t, snap.Recent[0].Terminal)
	assert.Equal(t, 15, snap.Recent[0].OutputTokens)
}

func TestKill9_DatabaseOpensWithAtMostTheLastSecondMissing(t *testing.T) {
	up, err := sim.New(sim.Options{ChunkInterval: -1})
	require.NoError(t, err)
	defer up.Close()
	db := filepath.Join(t.TempDir(), "llm-proxy.db")
	env := proxyEnv(up, db)
	env["LOG_LEVEL"] = "error"
	p := start(t, env)

	// Load from 8 clients; remember when each answer arrived.
	var mu sync.Mutex
	var done []time.Time
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				resp, err := http.DefaultClient.Do(chatRequest(t, p.base, false))
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					done = append(done, time.Now())
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(2 * time.Second)
	killedAt := time.Now()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	stop.Store(true)
	wg.Wait()
	_ = p.wait(t, 5*time.Second)

	mu.Lock()
	answered, beforeLastSecond := len(done), 0
	for _, at := range done {
		if at.Before(killedAt.Add(-time.Second)) {
			beforeLastSecond++
		}
	}
	mu.Unlock()
	require.Greater(t, beforeLastSecond, 10, "the load produced requests")

	snap := reopen(t, db)
	t.Logf("answered %d, answered more than 1s before the kill %d, stored %d", answered, beforeLastSecond, snap.Totals.Requests)
	assert.GreaterOrEqual(t, snap.Totals.Requests, int64(beforeLastSecond), "at most the last second is lost")
	assert.LessOrEqual(t, snap.Totals.Requests, int64(answered))
	assert.NotEmpty(t, snap.Recent)
}

func TestStartup_BadConfigOneLineExit1(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"PROXY_URL": "https://a/v1", "API_KEY": "k"}, "MY_ACCESS_KEY: "},
		{map[string]string{"MY_ACCESS_KEY": "c", "API_KEY": "k"}, "PROXY_URL: "},
		{map[string]string{"MY_ACCESS_KEY": "c", "PROXY_URL": "https://a/v1", "API_KEY": "k", "MAX_RETRIES": "abc"}, `MAX_RETRIES: not a number: "abc"`},
		{map[string]string{"MY_ACCESS_KEY": "c", "PROXY_URL": "not a url", "API_KEY": "k"}, "PROXY_URL: "},
	}
	for _, tt := range tests {
		cmd := exec.Command(binary)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DB_PATH=memory"}
		for k, v := range tt.env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%s", out)
		assert.Equal(t, 1, ee.ExitCode())
		assert.Equal(t, 1, strings.Count(strings.TrimSpace(string(out)), "\n")+1, "one line: %s", out)
		assert.Contains(t, string(out), tt.want)
		assert.NotContains(t, string(out), "panic")
	}
}

// Finding 10 of the hardening issue: a damaged stats database made the
// proxy exit 1, and the restart policy looped. Now it is moved aside, a
// fresh one starts, the (JSON) log says so loudly and /api/stats carries it
// for the dashboard's banner.
func TestStartup_CorruptDatabaseMovedAsideAndServes(t *testing.T) {
	db := filepath.Join(t.TempDir(), "bad.db")
	garbage := bytes.Repeat([]byte("not a database "), 500)
	require.NoError(t, os.WriteFile(db, garbage, 0o600))
	up, err := sim.New(sim.Options{ChunkInterval: -1})
	require.NoError(t, err)
	defer up.Close()
	env := proxyEnv(up, db)
	env["LOG_FORMAT"] = "json"
	p := start(t, env)

	resp, err := http.DefaultClient.Do(chatRequest(t, p.base, false))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode, "the proxy serves")

	req, _ := http.NewRequest("GET", p.base+"/api/stats", nil)
	req.Header.Set("Authorization", "Bearer "+clientKey)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	var snap stats.Snapshot
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&snap))
	resp.Body.Close()
	require.NotNil(t, snap.Database, "the dashboard is told")
	rec := snap.Database.Recovered
	require.NotNil(t, rec, "the dashboard is told")
	aside, err := os.ReadFile(rec.MovedTo)
	require.NoError(t, err)
	assert.Equal(t, garbage, aside, "the damaged file is kept aside")
	assert.True(t, strings.HasPrefix(rec.MovedTo, db+".corrupt-"))

	var found bool
	for _, line := range strings.Split(p.output.String(), "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil && entry["level"] == "ERROR" && strings.Contains(fmt.Sprint(entry["msg"]), "DAMAGED") {
			found = true
		}
	}
	assert.True(t, found, "a loud JSON log line:\n%s", p.output.String())
}

func TestFlags_VersionAndHelp(t *testing.T) {
	out, err := exec.Command(binary, "-version").CombinedOutput()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(out), "llm-proxy "))

	out, err = exec.Command(binary, "-h").CombinedOutput()
	require.NoError(t, err)
	for _, name := range []string{"PROXY_URL", "API_KEY", "MY_ACCESS_KEY", "MAX_RETRIES", "PORT", "BODY_LIMIT", "DB_PATH", "STREAM_IDLE_TIMEOUT"} {
		assert.Contains(t, string(out), name)
	}
}

func TestDemo_StartsWithoutKeysAndStreams(t *testing.T) {
	p := start(t, map[string]string{"DB_PATH": "memory", "DEMO_RATE_LIMIT_SHARE": "0"}, "-demo")
	assert.Contains(t, p.output.String(), "DEMO MODE")
	assert.Contains(t, p.output.String(), "demo-key")
	// The startup line names the targets that serve: the built-in routing
	// file's, not the unused env targets (it listed demo-upstream-a/b).
	listening := regexp.MustCompile(`msg="llm-proxy listening".*targets="\[[^]]*openai-sim#1`)
	assert.Eventually(t, func() bool { return listening.MatchString(p.output.String()) }, 5*time.Second, 20*time.Millisecond,
		"the listening line names the routing targets (log lines are written in batches)")
	req := chatRequest(t, p.base, true)
	req.Header.Set("Authorization", "Bearer demo-key")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(string(body), "data: [DONE]\n\n"))
}

// TestLogs_NeverShowKeys scans everything a run produces — logs, error
// bodies, the dashboard payload, metrics — for any key.
func TestLogs_NeverShowKeys(t *testing.T) {
	up, err := sim.New(sim.Options{ChunkInterval: -1})
	require.NoError(t, err)
	defer up.Close()
	env := proxyEnv(up, "memory")
	env["LOG_LEVEL"] = "debug"
	p := start(t, env)
	for _, stream := range []bool{false, true} {
		resp, err := http.DefaultClient.Do(chatRequest(t, p.base, stream))
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	up.Push(sim.Step{Status: 401, Body: sim.OpenAIError("invalid_request_error", "Incorrect API key provided: "+upstreamKey)})
	bad := chatRequest(t, p.base, false)
	bad.Header.Set("Authorization", "Bearer wrong-key-TEST-999")
	seen := map[string]string{} // what a client, a dashboard script and a scraper see
	for name, req := range map[string]*http.Request{"error body": chatRequest(t, p.base, false), "401 body": bad} {
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		seen[name] = string(b)
	}
	for _, path := range []string{"/api/stats", "/metrics"} {
		req, _ := http.NewRequest("GET", p.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+clientKey)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, path)
		seen[path] = string(b)
	}
	assert.Contains(t, seen["error body"], "[redacted]", "the upstream's echo of its key is redacted")
	assert.Contains(t, seen["/api/stats"], "gpt-test", "the dashboard payload has the requests")
	for name, text := range seen {
		for _, key := range []string{clientKey, upstreamKey, "wrong-key-TEST-999"} {
			assert.NotContains(t, text, key, name)
		}
	}
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	_ = p.wait(t, 10*time.Second)
	out := p.output.String()
	assert.Contains(t, out, "route=/v1/chat/completions", "requests were logged")
	for _, key := range []string{clientKey, upstreamKey, "wrong-key-TEST-999"} {
		assert.NotContains(t, out, key)
	}
}

// TestBrowser_DashboardFollowsRealTraffic logs in to the dashboard of the real
// binary in headless Chromium, sends requests through the proxy, and sees the
// total change live with no HTTP request after load. With
// LLMPROXY_SCREENSHOT set, the screenshot is copied there (docs/dashboard.png).
func TestBrowser_DashboardFollowsRealTraffic(t *testing.T) {
	dashboardtest.RequireChromium(t)
	up, err := sim.New(sim.Options{StreamChunks: 8, ChunkInterval: 10 * time.Millisecond, RateLimitShare: 0.3})
	require.NoError(t, err)
	defer up.Close()
	p := start(t, proxyEnv(up, "memory"))
	w := dashboardtest.LoginAndWatch(t, p.base, clientKey, func() {
		for i := range 6 {
			resp, err := http.DefaultClient.Do(chatRequest(t, p.base, i%2 == 0))
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	assert.NotEqual(t, w.Before, w.After)
	assert.FileExists(t, w.Screenshot)
}

func TestMetrics_ExposeFamiliesAndMoveWithTraffic(t *testing.T) {
	up, err := sim.New(sim.Options{ChunkInterval: -1})
	require.NoError(t, err)
	defer up.Close()
	env := proxyEnv(up, "memory")
	env["METRICS_KEY"] = "metrics-secret-TEST"
	p := start(t, env)

	scrape := func() string {
		req, _ := http.NewRequest("GET", p.base+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer metrics-secret-TEST")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	resp, err := http.Get(p.base + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 401, resp.StatusCode, "METRICS_KEY protects /metrics")

	up.Push(sim.Step{Status: 429, Body: sim.OpenAIError("rate_limit_error", "Rate limit reached")})
	for _, stream := range []bool{false, true, false} {
		resp, err := http.DefaultClient.Do(chatRequest(t, p.base, stream))
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// The recorder applies a request's record after its answer was sent:
	// wait for all three, not the first (a scrape between the second and
	// the third saw 2).
	done := regexp.MustCompile(`llmproxy_requests_total\{family="openai",status_class="2xx",target="127\.0\.0\.1:\d+"\} 3`)
	var out string
	require.Eventually(t, func() bool {
		out = scrape()
		return done.MatchString(out)
	}, 3*time.Second, 50*time.Millisecond)
	for _, family := range []string{
		"llmproxy_requests_total", "llmproxy_attempts_total", "llmproxy_rate_limits_total",
		"llmproxy_request_duration_seconds_bucket", "llmproxy_ttfb_seconds_bucket", "llmproxy_tokens_total",
		"llmproxy_in_flight_requests", "llmproxy_open_streams", "llmproxy_target_cooling",
		"llmproxy_dashboard_subscribers_dropped_total", "llmproxy_build_info",
	} {
		assert.Contains(t, out, family)
	}
	assert.Regexp(t, `llmproxy_rate_limits_total\{target="127\.0\.0\.1:\d+"\} 1`, out)
	assert.NotContains(t, out, "gpt-test", "no model label")
	assert.NotContains(t, out, upstreamKey)
	assert.NotContains(t, out, clientKey)
}

func TestStartup_UnwritableDataFolderSaysSo(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run the binary as another user")
	}
	dir, err := os.MkdirTemp("", "llm-proxy-ro")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	require.NoError(t, os.Chmod(dir, 0o755)) // owned by root, not writable by nobody
	cmd := exec.Command(binary)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "MY_ACCESS_KEY=c", "PROXY_URL=https://a/v1", "API_KEY=k", "DB_PATH=" + filepath.Join(dir, "x.db"), "PORT=" + fmt.Sprint(testkit.FreePort(t))}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	assert.Equal(t, 1, ee.ExitCode())
	assert.Contains(t, string(out), "not writable by uid 65534")
}
