package sim

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const chatStream = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`
const chatPlain = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`

// rawConn is a client connection written and read by hand, to see what a
// pooling client would see on the wire.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, s *Server) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr(), waitTimeout)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

// send writes one POST /v1/chat/completions with the given id and body.
func (r *rawConn) send(id, body string) {
	r.t.Helper()
	_, err := fmt.Fprintf(r.c, "POST /v1/chat/completions HTTP/1.1\r\nHost: sim\r\nContent-Type: application/json\r\n%s: %s\r\nContent-Length: %d\r\n\r\n%s",
		IDHeader, id, len(body), body)
	require.NoError(r.t, err)
}

// read reads one complete response and returns its status and body.
func (r *rawConn) read() (int, http.Header, string, error) {
	resp, err := http.ReadResponse(r.br, nil)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}

func TestServer_EchoesID(t *testing.T) {
	s := newServer(t, Options{ChunkInterval: -1, StreamChunks: 3})
	c := newClient(t, waitTimeout)
	a := do(t, c, http.MethodPost, s.URL()+"/chat/completions", chatStream, IDHeader, "req-7")
	require.Equal(t, 200, a.status)
	assert.Equal(t, "req-7", a.header.Get(IDHeader))
	events := strings.Split(strings.TrimSuffix(a.body, "\n\n"), "\n\n")
	require.NotEmpty(t, events)
	for _, ev := range events {
		assert.True(t, strings.HasSuffix(ev, "\nid: req-7"), "event without the id line: %q", ev)
	}
	assert.Contains(t, a.body, `"id":"chatcmpl-sim-req-7"`)

	a = do(t, c, http.MethodPost, s.URL()+"/messages", `{"model":"m","max_tokens":5,"messages":[]}`, IDHeader, "req-8")
	assert.Contains(t, a.body, `"id":"msg_sim_req-8"`)
	assert.Equal(t, 1, s.CountID("req-7"))
	assert.Equal(t, 1, s.CountID("req-8"))
	assert.Equal(t, 0, s.CountID("req-9"))
}

func TestServer_DoubleAnswer(t *testing.T) {
	s := newServer(t, Options{Record: true, StreamChunks: 3})
	s.Push(Step{Body: `{"n":1}`, Fault: FaultDoubleAnswer})
	r := dialRaw(t, s)
	r.send("a", chatPlain)
	for range 2 {
		status, h, body, err := r.read()
		require.NoError(t, err)
		assert.Equal(t, 200, status)
		assert.Equal(t, "a", h.Get(IDHeader))
		assert.Equal(t, `{"n":1}`, body)
	}
	// The connection is served again: the next request gets its answer
	// (after the stale extra one a pooling client would mistake for it).
	r.send("b", chatPlain)
	_, h, _, err := r.read()
	require.NoError(t, err)
	assert.Equal(t, "b", h.Get(IDHeader))
	reqs := s.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, reqs[0].Conn, reqs[1].Conn, "same connection number")
	assert.Positive(t, reqs[1].AfterUnsolicited, "the request after the extra answer says so")
	assert.Equal(t, 1, s.ConnsOpened())
}

func TestServer_IdleBytes(t *testing.T) {
	s := newServer(t, Options{Record: true, Chaos: &Chaos{IdleDelay: 20 * time.Millisecond}})
	s.Push(Step{Body: `{"n":1}`, Fault: FaultIdleBytes})
	r := dialRaw(t, s)
	r.send("a", chatPlain)
	_, _, body, err := r.read()
	require.NoError(t, err)
	assert.Equal(t, `{"n":1}`, body)
	// Idle: the same answer comes again, unsolicited.
	_, h, body, err := r.read()
	require.NoError(t, err)
	assert.Equal(t, "a", h.Get(IDHeader))
	assert.Equal(t, `{"n":1}`, body)
	r.send("b", chatPlain)
	_, h, _, err = r.read()
	require.NoError(t, err)
	assert.Equal(t, "b", h.Get(IDHeader))
	reqs := s.Requests()
	require.Len(t, reqs, 2)
	assert.Zero(t, reqs[0].AfterUnsolicited)
	assert.Positive(t, reqs[1].AfterUnsolicited, "the request after the unsolicited bytes says so")
}

func TestServer_IdleBytesNotWhenBusy(t *testing.T) {
	s := newServer(t, Options{Record: true, Chaos: &Chaos{IdleDelay: time.Second}})
	s.Push(Step{Body: `{"n":1}`, Fault: FaultIdleBytes})
	r := dialRaw(t, s)
	r.send("a", chatPlain)
	_, _, _, err := r.read()
	require.NoError(t, err)
	r.send("b", chatPlain) // within the idle delay: nothing is injected
	_, h, _, err := r.read()
	require.NoError(t, err)
	assert.Equal(t, "b", h.Get(IDHeader))
	assert.Zero(t, s.Requests()[1].AfterUnsolicited)
}

func TestServer_ResetMidHeaders(t *testing.T) {
	s := newServer(t, Options{})
	s.Push(Step{Fault: FaultResetMidHeaders})
	r := dialRaw(t, s)
	r.send("a", chatPlain)
	_, _, _, err := r.read()
	require.Error(t, err)
}

func TestServer_ShortBody(t *testing.T) {
	for _, st := range []Step{{Body: `{"n":1}`, Fault: FaultShortBody}, {Events: []string{"data: 1\n\n"}, Fault: FaultShortBody}} {
		s := newServer(t, Options{})
		s.Push(st)
		r := dialRaw(t, s)
		r.send("a", chatPlain)
		status, _, _, err := r.read()
		assert.Equal(t, 200, status)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "Content-Length longer than the body")
	}
}

func TestServer_PauseMidEvent(t *testing.T) {
	s := newServer(t, Options{Chaos: &Chaos{Pause: 100 * time.Millisecond}})
	events := []string{"data: 1\n\n", "data: {\"two\":2}\n\n", "data: 3\n\n"}
	s.Push(Step{Events: events, Fault: FaultPauseMidEvent}, Step{Body: `{"whole":true}`, Fault: FaultPauseMidEvent})
	c := newClient(t, waitTimeout)
	start := time.Now()
	a := do(t, c, http.MethodPost, s.URL()+"/chat/completions", chatStream)
	assert.Equal(t, strings.Join(events, ""), a.body, "the stream arrives whole")
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond, "with the pause")
	a = do(t, c, http.MethodPost, s.URL()+"/chat/completions", chatPlain)
	assert.Equal(t, `{"whole":true}`, a.body)
}

func TestServer_SetKeyState(t *testing.T) {
	s := newServer(t, Options{})
	c := newClient(t, waitTimeout)
	call := func(path, body string) answer {
		return do(t, c, http.MethodPost, s.URL()+path, body, "Authorization", "Bearer k1")
	}
	s.SetKeyState("k1", KeyRevoked)
	a := call("/chat/completions", chatPlain)
	assert.Equal(t, 401, a.status)
	assert.Equal(t, "invalid_api_key", str(t, decode(t, a.body), "error", "code"))

	s.SetKeyState("k1", KeyQuotaExhausted)
	a = call("/chat/completions", chatPlain)
	assert.Equal(t, 429, a.status)
	assert.Equal(t, "insufficient_quota", str(t, decode(t, a.body), "error", "code"))
	a = call("/messages", `{"model":"m","max_tokens":5,"messages":[]}`)
	assert.Equal(t, 400, a.status)
	assert.Equal(t, CreditMessage, str(t, decode(t, a.body), "error", "message"))

	s.SetKeyState("k1", KeyOK) // recovered
	assert.Equal(t, 200, call("/chat/completions", chatPlain).status)
}

func TestServer_Hook(t *testing.T) {
	s := newServer(t, Options{Hook: func(r Received) *Step {
		if r.Model == "broken-model" {
			return &Step{Status: 404, Body: OpenAIError("invalid_request_error", "no such model")}
		}
		return nil
	}})
	c := newClient(t, waitTimeout)
	a := do(t, c, http.MethodPost, s.URL()+"/chat/completions", `{"model":"broken-model"}`)
	assert.Equal(t, 404, a.status)
	assert.Equal(t, 200, do(t, c, http.MethodPost, s.URL()+"/chat/completions", chatPlain).status)
}

func TestChaos_Draw(t *testing.T) {
	ch := &Chaos{Seed: 42, Rate: 0.5}
	seen := map[Fault]int{}
	for i := range 2000 {
		f := ch.Draw(fmt.Sprint(i), 0)
		assert.Equal(t, f, ch.Draw(fmt.Sprint(i), 0), "the same id and attempt draw the same fault")
		seen[f]++
	}
	assert.InDelta(t, 1000, seen[FaultNone], 120, "about half get no fault")
	for _, f := range ChaosFaults {
		assert.Positive(t, seen[f], "%v drawn", f)
	}
	other := &Chaos{Seed: 43, Rate: 0.5}
	var differ int
	for i := range 100 {
		if ch.Draw(fmt.Sprint(i), 0) != other.Draw(fmt.Sprint(i), 0) {
			differ++
		}
	}
	assert.Positive(t, differ, "another seed draws otherwise")
	_, err := New(Options{Chaos: &Chaos{Rate: 2}})
	assert.Error(t, err)
}

// Every chaos fault leaves the server clean: once the clients are gone, no
// connection stays open and Close returns.
func TestServer_ChaosOpenConnsBackToZero(t *testing.T) {
	s := newServer(t, Options{ChunkInterval: -1, StreamChunks: 4,
		Chaos: &Chaos{Seed: 1, Rate: 1, Pause: 10 * time.Millisecond, IdleDelay: 5 * time.Millisecond}})
	tr := &http.Transport{}
	c := &http.Client{Transport: tr, Timeout: 500 * time.Millisecond}
	for i := range 60 {
		body := chatPlain
		if i%2 == 0 {
			body = chatStream
		}
		req, err := http.NewRequest(http.MethodPost, s.URL()+"/chat/completions", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set(IDHeader, fmt.Sprint("id-", i))
		if resp, err := c.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	tr.CloseIdleConnections()
	require.Eventually(t, func() bool { return s.OpenConns() == 0 && s.Active() == 0 }, waitTimeout, 10*time.Millisecond,
		"open %d active %d", s.OpenConns(), s.Active())
}
