package upstream

import (
	"bufio"
	"io"
	"net"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"

	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

func newTestRelay(t *testing.T, urls ...string) *Relay {
	t.Helper()
	var specs []Spec
	for i, raw := range urls {
		u, err := url.Parse(raw)
		require.NoError(t, err)
		specs = append(specs, Spec{Name: "t" + string(rune('0'+i)), URL: u, Key: "sk-up"})
	}
	targets := NewTargets(specs, ClientOptions{ConnectTimeout: 2 * time.Second, MaxConns: 64})
	t.Cleanup(targets.Close)
	return NewRelay(targets, Options{MaxRetries: 2, MaxCooldownWait: time.Second, ResponseTimeout: 5 * time.Second, StreamFirstByteTimeout: 5 * time.Second})
}

func chatRequest(stream bool) *Request {
	var h fasthttp.RequestHeader
	h.SetMethod("POST")
	h.SetContentType("application/json")
	body := `{"model":"m"}`
	if stream {
		body = `{"model":"m","stream":true}`
	}
	return &Request{Method: []byte("POST"), Path: []byte("/chat/completions"), Header: &h, Body: []byte(body), Stream: stream}
}

func drain(t *testing.T, res *Result) string {
	t.Helper()
	defer res.Release()
	if res.Body == nil {
		return string(res.Resp.Body())
	}
	rest, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return string(res.Prefix) + string(rest)
}

func TestRelay_KeepAliveReuse(t *testing.T) {
	up, err := sim.New(sim.Options{ChunkInterval: -1})
	require.NoError(t, err)
	defer up.Close()
	rl := newTestRelay(t, up.URL())
	for i := range 20 {
		res := rl.Do(chatRequest(i%2 == 0))
		require.Equal(t, Answered, res.Outcome)
		out := drain(t, res)
		if i%2 == 0 {
			assert.Contains(t, out, "data: [DONE]")
		}
	}
	assert.Equal(t, 1, up.ConnsOpened(), "streams and plain answers read to the end reuse one connection")
	assert.Equal(t, int64(1), rl.Targets().All()[0].ConnsOpened())
}

// closingServer answers each request on a connection with a keep-alive 200
// and then closes the connection without saying so, like an upstream whose
// idle timeout fired. It reports how many connections it accepted.
func closingServer(t *testing.T) (url string, conns func() int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			go func() {
				defer c.Close()
				var req fasthttp.Request
				if err := req.Read(bufio.NewReader(c)); err != nil {
					return
				}
				_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n{\"ok\":1}"))
				time.Sleep(50 * time.Millisecond)
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/v1", func() int { return int(n.Load()) }
}

func TestRelay_StaleConnectionReplaced(t *testing.T) {
	u, conns := closingServer(t)
	rl := newTestRelay(t, u)
	rl.opts.MaxRetries = 0
	for i := range 3 {
		time.Sleep(100 * time.Millisecond) // the server has closed the pooled connection by now
		res := rl.Do(chatRequest(false))
		require.Equal(t, Answered, res.Outcome, "request %d", i)
		assert.Len(t, res.Attempts, 1, "a stale pooled connection is not a failed attempt")
		assert.Equal(t, `{"ok":1}`, drain(t, res))
	}
	assert.Equal(t, 3, conns())
}

func TestRelay_CancelWhileWaiting(t *testing.T) {
	up, err := sim.New(sim.Options{})
	require.NoError(t, err)
	defer up.Close()
	up.Push(sim.Step{Fault: sim.FaultHang})
	rl := newTestRelay(t, up.URL())
	req := chatRequest(false)
	req.Cancel = &Canceler{}
	done := make(chan *Result, 1)
	go func() { done <- rl.Do(req) }()
	time.Sleep(200 * time.Millisecond)
	req.Cancel.Cancel()
	select {
	case res := <-done:
		assert.Equal(t, ClientGone, res.Outcome)
		require.Len(t, res.Attempts, 1)
		assert.Equal(t, ReasonClientGone, res.Attempts[0].Reason)
	case <-time.After(2 * time.Second):
		t.Fatal("Do did not return after Cancel")
	}
	select {
	case <-up.Gone():
	case <-time.After(2 * time.Second):
		t.Fatal("the upstream did not see its connection closed")
	}
	assert.Equal(t, 1, up.Count(), "no further attempt after cancel")
}

func TestRelay_StreamAbortClosesUpstream(t *testing.T) {
	up, err := sim.New(sim.Options{StreamChunks: 50, ChunkInterval: 50 * time.Millisecond})
	require.NoError(t, err)
	defer up.Close()
	rl := newTestRelay(t, up.URL())
	res := rl.Do(chatRequest(true))
	require.NotNil(t, res.Body)
	go func() { time.Sleep(100 * time.Millisecond); res.Body.Abort() }()
	_, err = io.ReadAll(res.Body)
	assert.Error(t, err, "a read in progress is interrupted")
	res.Release()
	select {
	case <-up.Gone():
	case <-time.After(2 * time.Second):
		t.Fatal("the upstream did not see its connection closed")
	}
	// The aborted connection is not reused.
	drain(t, rl.Do(chatRequest(false)))
	assert.Equal(t, 2, up.ConnsOpened())
}

func TestRelay_ConnectionRefusedMovesOn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "http://" + ln.Addr().String() + "/v1"
	ln.Close()
	up, err := sim.New(sim.Options{})
	require.NoError(t, err)
	defer up.Close()
	rl := newTestRelay(t, dead, up.URL())
	for range 2 {
		res := rl.Do(chatRequest(false))
		require.Equal(t, Answered, res.Outcome)
		assert.Equal(t, 200, res.Resp.StatusCode())
		drain(t, res)
	}
}

func TestRelay_PoolFullWaitsThenFails(t *testing.T) {
	up, err := sim.New(sim.Options{})
	require.NoError(t, err)
	defer up.Close()
	u, _ := url.Parse(up.URL())
	targets := NewTargets([]Spec{{Name: "one", URL: u, Key: "k"}}, ClientOptions{ConnectTimeout: 200 * time.Millisecond, MaxConns: 1})
	defer targets.Close()
	rl := NewRelay(targets, Options{MaxRetries: 0, ResponseTimeout: 5 * time.Second, StreamFirstByteTimeout: 5 * time.Second})
	up.Push(sim.Step{Events: []string{sim.OpenAIChunk("a")}, Fault: sim.FaultStall})
	held := rl.Do(chatRequest(true)) // holds the only connection
	require.NotNil(t, held.Body)
	res := rl.Do(chatRequest(false))
	assert.Equal(t, Unreachable, res.Outcome, "no free connection within the connect timeout")
	held.Body.Abort()
	held.Release()
	res = rl.Do(chatRequest(false))
	assert.Equal(t, Answered, res.Outcome, "the slot is free again")
	drain(t, res)
}
