package app

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llm-proxy/llm-proxy/stats"
)

// scriptedUpstream is an upstream whose answers are written by handle (a
// closed proxy connection shows as r.Context() done).
func scriptedUpstream(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) (url string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(handle))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1"
}

func sseHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	w.(http.Flusher).Flush()
}

func writeFlush(w http.ResponseWriter, s string) {
	_, _ = io.WriteString(w, s)
	w.(http.Flusher).Flush()
}

// Defect 4: an upstream that pauses in the middle of an event gets no
// keep-alive written into that event; keep-alives still go between events.
func TestStream_KeepAliveOnlyBetweenEvents(t *testing.T) {
	t.Parallel()
	first := `data: {"id":"c1","choices":[{"delta":{"content":"a"}}]}` + "\n\n"
	second := `data: {"id":"c2","choices":[{"delta":{"content":"b"}}]}` + "\n\n"
	u := scriptedUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		sseHeaders(w)
		writeFlush(w, first)
		time.Sleep(700 * time.Millisecond) // silent between events: keep-alives are due
		writeFlush(w, second[:10])         // `data: {"id` …
		time.Sleep(700 * time.Millisecond) // silent inside an event: none may be written
		writeFlush(w, second[10:])
		writeFlush(w, "data: [DONE]\n\n")
	})
	cfg := testConfig([]string{u}, []string{upKeyA})
	cfg.KeepAliveInterval = 200 * time.Millisecond
	p := startProxy(t, cfg)
	a, evs, err := p.stream(families[0].req(openAIStreamBody))
	require.NoError(t, err)
	wantStatus(t, a, 200)
	var data []string
	keepAlives := 0
	for _, e := range evs {
		if isKeepAlive(e.raw) {
			keepAlives++
			continue
		}
		data = append(data, e.raw)
	}
	assert.Equal(t, []string{first, second, "data: [DONE]\n\n"}, data, "a keep-alive inside an event breaks it")
	assert.NotZero(t, keepAlives, "keep-alives during 700 ms of silence between events (interval 200 ms): %q", a.body)
	ev := p.event(1)
	assert.Equal(t, stats.OutcomeOK, ev.Outcome, ev.Error)
}

// Defect 5: a client that leaves while the proxy waits for the first event
// (the headers have come) gets its upstream request closed at once, not
// after STREAM_FIRST_BYTE_TIMEOUT.
func TestStream_ClientLeavesDuringProbe(t *testing.T) {
	t.Parallel()
	gone := make(chan struct{}, 1)
	u := scriptedUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		sseHeaders(w)
		select {
		case <-r.Context().Done(): // the proxy closed the connection
			gone <- struct{}{}
		case <-time.After(20 * time.Second):
		}
	})
	cfg := testConfig([]string{u}, []string{upKeyA})
	cfg.StreamFirstByteTimeout = 15 * time.Second
	p := startProxy(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, "POST", p.base+"/v1/chat/completions", strings.NewReader(openAIStreamBody))
		req.Header.Set("Authorization", "Bearer "+clientKey)
		req.Header.Set("Content-Type", "application/json")
		if resp, err := p.client.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(500 * time.Millisecond) // the proxy has the headers and waits for the first event
	cancel()
	<-done
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream request was not closed after the client left (first-byte timeout is 15 s)")
	}
	ev := p.event(1)
	assert.Equal(t, 499, ev.Status)
	assert.Equal(t, stats.OutcomeClientGone, ev.Outcome)
}

// rawClient sends one request over a raw TCP connection and never reads.
func rawClient(t *testing.T, base, path, body string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10) // fill up quickly
	}
	req := "POST " + path + " HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer " + clientKey +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	_, err = c.Write([]byte(req))
	require.NoError(t, err)
	return c
}

// Defect 6: a client that stops reading is dropped after CLIENT_WRITE_TIMEOUT,
// for a stream and for a large complete answer alike: its upstream
// connection is closed and the record says why.
func TestStream_ClientWriteDeadline(t *testing.T) {
	t.Parallel()
	chunk := `data: {"choices":[{"delta":{"content":"` + strings.Repeat("x", 4000) + `"}}]}` + "\n\n"
	cases := []struct {
		name, path, body string
		answer           func(w http.ResponseWriter, r *http.Request)
	}{
		{"stream", "/v1/chat/completions", openAIStreamBody, func(w http.ResponseWriter, r *http.Request) {
			sseHeaders(w)
			for range 20000 { // 80 MB: far more than any socket buffer
				if _, err := io.WriteString(w, chunk); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}},
		{"complete", "/v1/embeddings", `{"model":"e","input":"hi"}`, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(80<<20))
			line := strings.Repeat("1", 1<<20)
			for range 80 {
				if _, err := io.WriteString(w, line); err != nil {
					return
				}
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gone := make(chan struct{}, 1)
			u := scriptedUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				tc.answer(w, r)
				<-r.Context().Done()
				gone <- struct{}{}
			})
			cfg := testConfig([]string{u}, []string{upKeyA})
			cfg.ClientWriteTimeout = 500 * time.Millisecond
			p := startProxy(t, cfg)
			rawClient(t, p.base, tc.path, tc.body)
			select {
			case <-gone:
			case <-time.After(10 * time.Second):
				t.Fatal("the upstream connection stayed open for a client that reads nothing")
			}
			ev := p.event(1)
			assert.Equal(t, 499, ev.Status)
			assert.Contains(t, ev.Error, "stopped reading", "the record says why")
		})
	}
}

// Defect 7: once a stream has finished, nothing of its idle watch touches
// its connection, which is back in the pool: a wait longer than the idle
// timeout later, the next request uses that same connection.
func TestStream_IdleTimerAfterFinish(t *testing.T) {
	t.Parallel()
	var conns = make(chan string, 16)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sseHeaders(w)
		writeFlush(w, `data: {"choices":[{"delta":{"content":"a"}}]}`+"\n\n")
		time.Sleep(300 * time.Millisecond) // keep-alives are due, the idle cut (1 s) is not
		writeFlush(w, "data: [DONE]\n\n")
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns <- c.RemoteAddr().String()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	cfg := testConfig([]string{srv.URL + "/v1"}, []string{upKeyA})
	cfg.StreamIdleTimeout = time.Second
	cfg.KeepAliveInterval = 100 * time.Millisecond
	p := startProxy(t, cfg)
	for i := range 3 {
		a, _, err := p.stream(families[0].req(openAIStreamBody))
		require.NoError(t, err)
		wantStatus(t, a, 200)
		require.Contains(t, string(a.body), "[DONE]", "stream %d", i)
		time.Sleep(1300 * time.Millisecond) // past the idle timeout, with the conn in the pool
	}
	for i, ev := range p.events(3) {
		assert.Equal(t, stats.OutcomeOK, ev.Outcome, "stream %d: %s", i, ev.Error)
	}
	assert.Len(t, conns, 1, "upstream connections: the pooled one stayed usable")
}

// Defect 11 end to end: an answer larger than the proxy holds is relayed
// whole, with its length, from one attempt.
func TestRelay_LargeAnswerStreamedEndToEnd(t *testing.T) {
	t.Parallel()
	big := `{"object":"list","data":"` + strings.Repeat("y", 5<<20) + `","usage":{"prompt_tokens":8,"total_tokens":8}}`
	u := scriptedUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		_, _ = io.WriteString(w, big)
	})
	p := startProxy(t, testConfig([]string{u}, []string{upKeyA}))
	a := p.call(request{path: "/v1/embeddings", body: `{"model":"e","input":"hi"}`})
	wantStatus(t, a, 200)
	assert.Len(t, a.body, len(big))
	assert.True(t, json.Valid(a.body))
	assert.Equal(t, strconv.Itoa(len(big)), a.header.Get("Content-Length"))
	ev := p.event(1)
	assert.Len(t, ev.Attempts, 1)
	assert.Equal(t, stats.OutcomeOK, ev.Outcome)
	assert.Equal(t, 8, ev.InputTokens, "usage read from the end of the answer")
}

// The log line and the trail of a request no upstream answered name the cause.
func TestRelay_CauseInTrailAndLog(t *testing.T) {
	t.Parallel()
	cfg := testConfig([]string{closedPortURL(t)}, []string{upKeyA})
	cfg.MaxRetries = 0
	p := startProxy(t, cfg)
	a := p.call(families[0].req(openAIBody))
	wantStatus(t, a, 502)
	ev := p.event(1)
	require.Len(t, ev.Attempts, 1)
	assert.Equal(t, "refused", ev.Attempts[0].Cause)
	found := false
	sc := bufio.NewScanner(strings.NewReader(p.logs.String()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "msg=request") && strings.Contains(sc.Text(), "refused") {
			found = true
		}
	}
	assert.True(t, found, "a request log line names the cause:\n%s", p.logs.String())
}
