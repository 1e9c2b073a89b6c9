package main

// The pre-auth attacks of the hardening issue (#11, finding 1), against the
// real binary: its resident memory can only be seen from outside.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// rssBytes is the resident set size of process pid (VmRSS in /proc).
func rssBytes(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// Finding 1: sixteen connections without a key, each announcing a 32 MiB
// body and sending one byte of it, made the proxy hold 540 MB. The key is
// decided when the headers are in: a keyless request gets a small body
// allowance, so they get 401 at once and memory stays put.
func TestPreAuth_KeylessBodyFloodKeepsMemory(t *testing.T) {
	up, err := sim.New(sim.Options{ChunkInterval: -1})
	require.NoError(t, err)
	defer up.Close()
	env := proxyEnv(up, "memory")
	env["LOG_LEVEL"] = "error"
	p := start(t, env)
	addr := strings.TrimPrefix(p.base, "http://")
	before := rssBytes(t, p.cmd.Process.Pid)

	const conns = 16
	var wg sync.WaitGroup
	statuses := make([]int, conns)
	var mu sync.Mutex
	peak := before
	stop := make(chan struct{})
	go func() { // sample the resident memory while the flood is on
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				r := rssBytes(t, p.cmd.Process.Pid)
				mu.Lock()
				peak = max(peak, r)
				mu.Unlock()
			}
		}
	}()
	hold := make(chan struct{})
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", addr, 32<<20)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil {
				statuses[i] = resp.StatusCode
				resp.Body.Close()
			}
			<-hold // keep the connection open while memory is sampled
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	close(hold)
	wg.Wait()
	close(stop)
	mu.Lock()
	growth := peak - before
	mu.Unlock()
	t.Logf("RSS before %d MB, peak %d MB, growth %.1f MB", before>>20, peak>>20, float64(growth)/(1<<20))
	assert.Less(t, growth, int64(20<<20), "16 keyless 32 MiB announcements")
	for i, s := range statuses {
		assert.Equal(t, http.StatusUnauthorized, s, "connection %d gets 401 at once", i)
	}
	resp, err := http.DefaultClient.Do(chatRequest(t, p.base, false))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode, "still serving")
}

// Finding 1: half-sent header blocks held a connection and its buffers for
// the 5-minute read timeout. A request's headers must be in within
// HEADER_TIMEOUT, however slowly they trickle.
func TestPreAuth_SlowHeaderFloodCutWithinHeaderTimeout(t *testing.T) {
	up, err := sim.New(sim.Options{ChunkInterval: -1})
	require.NoError(t, err)
	defer up.Close()
	env := proxyEnv(up, "memory")
	env["LOG_LEVEL"] = "error"
	env["HEADER_TIMEOUT"] = "1s"
	p := start(t, env)
	addr := strings.TrimPrefix(p.base, "http://")

	const conns = 50
	start := time.Now()
	cut := make(chan time.Duration, conns)
	for range conns {
		go func() {
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				cut <- -1
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(8 * time.Second)) // bounded either way
			if _, err := fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\n", addr); err != nil {
				cut <- time.Since(start)
				return
			}
			done := make(chan struct{})
			go func() { // the server's side: an answer or a close ends the read
				_, _ = io.Copy(io.Discard, c)
				close(done)
			}()
			for i := 0; ; i++ {
				select {
				case <-done:
					cut <- time.Since(start)
					return
				case <-time.After(200 * time.Millisecond):
				}
				if _, err := fmt.Fprintf(c, "X-Slow-%d: x\r\n", i); err != nil {
					<-done
					cut <- time.Since(start)
					return
				}
			}
		}()
	}
	var worst time.Duration
	for range conns {
		d := <-cut
		require.GreaterOrEqual(t, d, time.Duration(0), "dial failed")
		worst = max(worst, d)
	}
	t.Logf("all %d slow-header connections cut; the last after %v", conns, worst)
	assert.Less(t, worst, 3*time.Second, "cut within HEADER_TIMEOUT (1s) plus slack")
}
