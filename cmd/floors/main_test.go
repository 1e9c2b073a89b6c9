package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
)

// serve runs h on a fresh 127.0.0.1 listener until the test ends.
func serve(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &fasthttp.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// upstream answers /stream with one event, then a second once release is
// closed (or after 5 s, setting sentTwo first); anything else with a JSON
// body. It wants the upstream key.
func upstream(t *testing.T, release chan struct{}, sentTwo *atomic.Bool) string {
	return serve(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Request.Header.Peek("Authorization")) != "Bearer upstream-key" {
			ctx.SetStatusCode(fasthttp.StatusUnauthorized)
			return
		}
		if string(ctx.Path()) != "/stream" {
			ctx.SetContentType("application/json")
			ctx.SetBodyString(`{"ok":true}`)
			return
		}
		ctx.SetContentType("text/event-stream")
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			_, _ = w.WriteString("data: one\n\n")
			_ = w.Flush()
			select {
			case <-release:
			case <-time.After(5 * time.Second):
			}
			sentTwo.Store(true)
			_, _ = w.WriteString("data: two\n\n")
		})
	})
}

func post(t *testing.T, addr, path, key string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+path, strings.NewReader(`{}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", key)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func TestFloors_RelaysWithTheUpstreamKeyAndRefusesOthers(t *testing.T) {
	for _, stream := range []bool{false, true} {
		up := &fasthttp.HostClient{Addr: upstream(t, nil, new(atomic.Bool)), StreamResponseBody: stream}
		addr := serve(t, handler(up, 1000, stream))

		resp := post(t, addr, "/v1/chat/completions", "Bearer someone-else")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "stream=%v", stream)

		resp = post(t, addr, "/v1/chat/completions", "Bearer client-key")
		require.Equal(t, http.StatusOK, resp.StatusCode, "stream=%v", stream)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, `{"ok":true}`, string(body), "stream=%v", stream)
	}
}

// With STREAM=1 the first event reaches the client while the upstream still
// holds the second: the instrument measures a relay that does not buffer.
func TestFloors_StreamReachesTheClientBeforeTheAnswerEnds(t *testing.T) {
	release, sentTwo := make(chan struct{}), new(atomic.Bool)
	up := &fasthttp.HostClient{Addr: upstream(t, release, sentTwo), StreamResponseBody: true}
	addr := serve(t, handler(up, 0, true))

	resp := post(t, addr, "/stream", "Bearer client-key")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	r := bufio.NewReader(resp.Body)
	first, err := r.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "data: one\n", first)
	require.False(t, sentTwo.Load(), "the first event arrived only when the answer ended")
	close(release)
	var rest strings.Builder
	for {
		line, err := r.ReadString('\n')
		rest.WriteString(line)
		if err != nil {
			break
		}
	}
	require.Equal(t, "\ndata: two\n\n", rest.String())
}

// The work depends on its seed (each request's id), so it is not one
// constant the compiler could fold.
func TestSpinDependsOnItsSeed(t *testing.T) {
	require.NotEqual(t, spin(1, 10), spin(2, 10))
}
