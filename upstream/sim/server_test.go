package sim

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNew_Addresses(t *testing.T) {
	s := newServer(t, Options{})
	host, port, err := net.SplitHostPort(s.Addr())
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", host)
	assert.NotEqual(t, "0", port)
	assert.Equal(t, "http://"+s.Addr()+"/v1", s.URL())

	_, err = New(Options{Addr: s.Addr()})
	assert.ErrorContains(t, err, s.Addr(), "a busy address is an error naming it")
}

func TestServer_Push(t *testing.T) {
	s := newServer(t, Options{StreamChunks: 1})
	c := newClient(t, waitTimeout)
	s.Push(
		Step{Status: 429, Header: map[string]string{"Retry-After": "2"}, Body: OpenAIError("rate_limit_error", "slow down")},
		Step{Status: 503, Header: map[string]string{"Content-Type": "text/plain"}, Body: "busy"},
	)
	s.Push(Step{Body: `{"third":true}`})
	require.Equal(t, 3, s.Pending())

	got := do(t, c, "POST", s.URL()+"/chat/completions", `{}`)
	assert.Equal(t, 429, got.status)
	assert.Equal(t, "2", got.header.Get("Retry-After"))
	assert.Equal(t, OpenAIError("rate_limit_error", "slow down"), got.body)

	got = do(t, c, "POST", s.URL()+"/messages", `not even json`) // steps ignore the body
	assert.Equal(t, 503, got.status)
	assert.Equal(t, "text/plain", got.header.Get("Content-Type"))
	assert.Equal(t, "busy", got.body)

	got = do(t, c, "GET", s.URL()+"/anything", "")
	assert.Equal(t, 200, got.status)
	assert.Equal(t, "application/json", got.header.Get("Content-Type"))
	assert.Equal(t, `{"third":true}`, got.body)

	// Script exhausted: default simulation.
	got = do(t, c, "POST", s.URL()+"/chat/completions", `{}`)
	assert.Equal(t, 200, got.status)
	assert.Equal(t, "chat.completion", str(t, decode(t, got.body), "object"))
	assert.Equal(t, 0, s.Pending())
}

func TestServer_PushKeyAndPath(t *testing.T) {
	s := newServer(t, Options{StreamChunks: 1})
	c := newClient(t, waitTimeout)
	s.Push(
		Step{Key: "k2", Status: 429, Body: `{"for":"k2"}`},
		Step{Path: "/v1/models", Body: `{"for":"models"}`},
		Step{Key: "k2", Status: 500, Body: `{"for":"k2 again"}`},
	)
	post := func(key string) answer {
		return do(t, c, "POST", s.URL()+"/chat/completions", `{}`, "Authorization", "Bearer "+key)
	}

	got := post("k1")
	assert.Equal(t, 200, got.status, "k1 skips k2's steps and the /models step")
	assert.Equal(t, "chat.completion", str(t, decode(t, got.body), "object"))
	assert.Equal(t, 3, s.Pending())

	got = post("k2")
	assert.Equal(t, 429, got.status)
	assert.Equal(t, `{"for":"k2"}`, got.body)

	got = do(t, c, "GET", s.URL()+"/models?x=1", "", "x-api-key", "k2")
	assert.Equal(t, `{"for":"models"}`, got.body, "the first matching step wins, even with a key")

	got = post("k2")
	assert.Equal(t, 500, got.status)
	assert.Equal(t, `{"for":"k2 again"}`, got.body)

	assert.Equal(t, 200, post("k2").status, "k2's script is exhausted")
	assert.Equal(t, 0, s.Pending())
}

func TestServer_Requests(t *testing.T) {
	s := newServer(t, Options{Record: true, StreamChunks: 1})
	c := newClient(t, waitTimeout)
	do(t, c, "POST", s.URL()+"/chat/completions?api-version=1&x=%20y", `{"model":"m"}`,
		"Authorization", "Bearer sk-up", "anthropic-beta", "b1")
	do(t, c, "GET", s.URL()+"/models", "", "x-api-key", "sk-x")

	got := s.Requests()
	require.Len(t, got, 2)
	assert.Equal(t, "POST", got[0].Method)
	assert.Equal(t, "/v1/chat/completions?api-version=1&x=%20y", got[0].Path, "path and query as sent")
	assert.Equal(t, `{"model":"m"}`, string(got[0].Body))
	assert.Equal(t, "b1", got[0].Header.Get("Anthropic-Beta"))
	assert.Equal(t, "sk-up", got[0].Key)
	assert.Equal(t, 1, got[0].Conn)
	assert.Equal(t, "GET", got[1].Method)
	assert.Equal(t, "/v1/models", got[1].Path)
	assert.Empty(t, got[1].Body)
	assert.Equal(t, "sk-x", got[1].Key)

	// Copies: changing them does not change the server's record.
	got[0].Body[0] = 'X'
	got[0].Header.Set("Anthropic-Beta", "changed")
	again := s.Requests()
	assert.Equal(t, `{"model":"m"}`, string(again[0].Body))
	assert.Equal(t, "b1", again[0].Header.Get("Anthropic-Beta"))
}

func TestServer_RecordOff(t *testing.T) {
	s := newServer(t, Options{StreamChunks: 1})
	c := newClient(t, waitTimeout)
	for range 3 {
		do(t, c, "POST", s.URL()+"/chat/completions", `{}`)
	}
	assert.Empty(t, s.Requests())
	assert.Equal(t, 3, s.Count())
}

func TestServer_ConnsOpened(t *testing.T) {
	s := newServer(t, Options{Record: true, StreamChunks: 1, ChunkInterval: -1})
	assert.Equal(t, 0, s.ConnsOpened())

	keepAlive := newClient(t, waitTimeout)
	for _, body := range []string{`{}`, `{"stream":true}`, `{}`} {
		require.Equal(t, 200, do(t, keepAlive, "POST", s.URL()+"/chat/completions", body).status)
	}
	assert.Equal(t, 1, s.ConnsOpened(), "sequential requests reuse one connection")

	other := newClient(t, waitTimeout)
	do(t, other, "GET", s.URL()+"/models", "")
	do(t, keepAlive, "GET", s.URL()+"/models", "")
	assert.Equal(t, 2, s.ConnsOpened())

	noKeepAlive := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: waitTimeout}
	do(t, noKeepAlive, "GET", s.URL()+"/models", "")
	do(t, noKeepAlive, "GET", s.URL()+"/models", "")
	assert.Equal(t, 4, s.ConnsOpened())

	var conns []int
	for _, r := range s.Requests() {
		conns = append(conns, r.Conn)
	}
	assert.Equal(t, []int{1, 1, 1, 2, 1, 3, 4}, conns)
}

func TestServer_GoneMidStream(t *testing.T) {
	s := newServer(t, Options{StreamChunks: 50, ChunkInterval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", s.URL()+"/chat/completions",
		strings.NewReader(`{"model":"m","stream":true}`))
	require.NoError(t, err)
	resp, err := newClient(t, 0).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()

	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(line, "data: "))
	noGone(t, s)
	cancel() // the client leaves mid-stream

	gone := waitGone(t, s)
	assert.Equal(t, "/v1/chat/completions", gone.Path)
	assert.Equal(t, `{"model":"m","stream":true}`, string(gone.Body))
}

func TestServer_GoneDuringLatency(t *testing.T) {
	s := newServer(t, Options{Latency: time.Hour})
	_, err := newClient(t, 100*time.Millisecond).Post(s.URL()+"/messages", "application/json", strings.NewReader(`{}`))
	require.Error(t, err)
	assert.Equal(t, "/v1/messages", waitGone(t, s).Path)
}

func TestServer_NoGoneOnCompletion(t *testing.T) {
	s := newServer(t, Options{StreamChunks: 2, ChunkInterval: -1})
	c := newClient(t, waitTimeout)
	do(t, c, "POST", s.URL()+"/messages", `{"stream":true}`)
	do(t, c, "POST", s.URL()+"/chat/completions", `{}`)
	s.Close() // Close waits for the handlers, so any report would be queued now
	noGone(t, s)
}

func TestServer_CloseEndsEverything(t *testing.T) {
	before := runtime.NumGoroutine()

	s, err := New(Options{})
	require.NoError(t, err)
	s.Push(
		Step{Fault: FaultHang},
		Step{Fault: FaultStall, Events: []string{OpenAIChunk("a")}},
		Step{Fault: FaultCutStream, Events: []string{OpenAIChunk("a"), OpenAIChunk("b")}, Interval: time.Hour},
		Step{HeaderDelay: time.Hour},
		Step{Events: OpenAIStream([]string{"a", "b"}, 1, 2), Interval: time.Hour},
		// Writes that block because the client does not read.
		Step{Events: []string{strings.Repeat("x", 32<<20)}},
		Step{Fault: FaultCutStream, Events: []string{strings.Repeat("x", 32<<20)}},
	)
	const steps = 7
	var conns []net.Conn
	for i := range steps {
		conns = append(conns, rawRequest(t, s, "POST", "/v1/chat/completions", `{"stream":true}`))
		// Wait until this request took its step, so each connection gets
		// the step meant for it.
		require.Eventually(t, func() bool { return s.Pending() == steps-i-1 }, waitTimeout, time.Millisecond)
	}
	idle := rawRequest(t, s, "GET", "/v1/models", "") // answered, then idle keep-alive
	readResponseHead(t, idle)
	conns = append(conns, idle)
	require.Eventually(t, func() bool { return s.Count() == steps+1 && s.Active() == steps },
		waitTimeout, time.Millisecond)

	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(waitTimeout):
		t.Fatal("Close hangs")
	}
	assert.Equal(t, 0, s.Active(), "Close waited for every handler")
	s.Close() // idempotent

	for i, conn := range conns {
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(waitTimeout)))
		_, err := io.Copy(io.Discard, conn) // nil at EOF
		var ne net.Error
		if errors.As(err, &ne) {
			assert.False(t, ne.Timeout(), "connection %d: the server must close it", i)
		}
		conn.Close()
	}
	noGone(t, s)

	_, err = net.DialTimeout("tcp", s.Addr(), time.Second)
	assert.Error(t, err, "the listener is closed")

	// No goroutine outlives Close (bounded wait for the runtime to reap).
	deadline := time.Now().Add(waitTimeout)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after Close:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// rawRequest sends one HTTP/1.1 request on a new raw connection, closed at
// the end of the test.
func rawRequest(t *testing.T, s *Server, method, path, body string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.Addr(), waitTimeout)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	req := method + " " + path + " HTTP/1.1\r\nHost: " + s.Addr() + "\r\n"
	if body != "" {
		req += "Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
	}
	_, err = io.WriteString(conn, req+"\r\n"+body)
	require.NoError(t, err)
	return conn
}

// readResponseHead reads a complete response with a Content-Length from a
// raw connection.
func readResponseHead(t *testing.T, conn net.Conn) *http.Response {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(waitTimeout)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Time{}))
	return resp
}
