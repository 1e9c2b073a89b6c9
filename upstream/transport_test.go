package upstream

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
)

// rawUpstream is a scripted HTTP/1.1 upstream on a loopback port: serve runs
// for each accepted connection. It returns the base URL ("http://…/v1").
func rawUpstream(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/v1"
}

// readRequest reads one request (headers and body) from br.
func readRequest(br *bufio.Reader) (*fasthttp.Request, error) {
	req := &fasthttp.Request{}
	return req, req.Read(br)
}

func okResponse(body string) string {
	return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// noLeak checks that every open connection of the relay's target is idle in
// the pool: none is held by a finished request.
func noLeak(t *testing.T, rl *Relay) {
	t.Helper()
	cs := rl.Targets().All()[0].conns
	assert.Eventually(t, func() bool { return cs.openCount() == cs.idleCount() }, 2*time.Second, 10*time.Millisecond,
		"open %d, idle %d", cs.openCount(), cs.idleCount())
}

func relayOver(t *testing.T, u string, o ClientOptions, opts Options) *Relay {
	t.Helper()
	pu, err := url.Parse(u)
	require.NoError(t, err)
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 2 * time.Second
	}
	targets := NewTargets([]Spec{{Name: "one", URL: pu, Key: "sk-up"}}, o)
	t.Cleanup(targets.Close)
	if opts.ResponseTimeout == 0 {
		opts.ResponseTimeout = 5 * time.Second
		opts.StreamFirstByteTimeout = 5 * time.Second
	}
	return NewRelay(targets, opts)
}

// Defect 1: an upstream that answers one request twice must not hand the
// second answer to the next request.
func TestTransport_NoReuseWithUnreadBytes(t *testing.T) {
	var n atomic.Int32
	u := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := readRequest(br); err != nil {
				return
			}
			k := n.Add(1)
			out := okResponse("answer-" + strconv.Itoa(int(k)))
			if k == 1 {
				out += okResponse("stale") // one request, two answers, one write
			}
			if _, err := c.Write([]byte(out)); err != nil {
				return
			}
		}
	})
	rl := relayOver(t, u, ClientOptions{}, Options{})
	for i := 1; i <= 3; i++ {
		res := rl.Do(chatRequest(false))
		require.Equal(t, Answered, res.Outcome)
		assert.Equal(t, "answer-"+strconv.Itoa(i), drain(t, res), "request %d gets its own answer", i)
	}
	noLeak(t, rl)
}

// Defect 1, second form: bytes that arrive while a connection sits idle.
func TestTransport_NoReuseOfConnReadableWhileIdle(t *testing.T) {
	var n atomic.Int32
	u := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := readRequest(br); err != nil {
				return
			}
			k := n.Add(1)
			if _, err := c.Write([]byte(okResponse("answer-" + strconv.Itoa(int(k))))); err != nil {
				return
			}
			if k == 1 {
				time.Sleep(20 * time.Millisecond)
				_, _ = c.Write([]byte(okResponse("unsolicited")))
			}
		}
	})
	rl := relayOver(t, u, ClientOptions{}, Options{})
	res := rl.Do(chatRequest(false))
	assert.Equal(t, "answer-1", drain(t, res))
	time.Sleep(150 * time.Millisecond) // the unsolicited answer arrives while the conn is idle
	res = rl.Do(chatRequest(false))
	require.Equal(t, Answered, res.Outcome)
	assert.Equal(t, "answer-2", drain(t, res))
	assert.Len(t, res.Attempts, 1, "the readable connection was dropped before use, not tried")
}

// Defect 2: with one connection per target, a request waiting for it gets
// it when the first request finishes, not a connect_error after CONNECT_TIMEOUT.
func TestTransport_ReturnedConnGoesToWaiter(t *testing.T) {
	u := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := readRequest(br); err != nil {
				return
			}
			time.Sleep(300 * time.Millisecond)
			if _, err := c.Write([]byte(okResponse(`{"ok":1}`))); err != nil {
				return
			}
		}
	})
	rl := relayOver(t, u, ClientOptions{MaxConns: 1, ConnectTimeout: time.Second}, Options{})
	results := make(chan *Result, 2)
	for range 2 {
		go func() { results <- rl.Do(chatRequest(false)) }()
	}
	for range 2 {
		select {
		case res := <-results:
			assert.Equal(t, Answered, res.Outcome, "attempts: %+v", res.Attempts)
			res.Release()
		case <-time.After(10 * time.Second):
			t.Fatal("a request never finished")
		}
	}
	assert.Equal(t, int64(1), rl.Targets().All()[0].ConnsOpened(), "the one connection served both")
}

// Defect 3: whenever Cancel runs, the connection it closed never goes back
// to the pool: the next request never meets a closed connection.
func TestTransport_CancelledConnNeverPooled(t *testing.T) {
	answered := make(chan struct{}, 1)
	u := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := readRequest(br); err != nil {
				return
			}
			if _, err := c.Write([]byte(okResponse(`{"ok":1}`))); err != nil {
				return
			}
			select {
			case answered <- struct{}{}:
			default:
			}
		}
	})
	rl := relayOver(t, u, ClientOptions{}, Options{})
	for i := range 200 {
		req := chatRequest(false)
		req.Cancel = &Canceler{}
		stop := make(chan struct{})
		go func() {
			select {
			case <-answered:
				req.Cancel.Cancel() // right when the answer is on its way
			case <-stop:
			}
		}()
		res := rl.Do(req)
		close(stop)
		res.Release()
		select {
		case <-answered:
		default:
		}
		next := rl.Do(chatRequest(false))
		require.Equal(t, Answered, next.Outcome, "round %d: %+v", i, next.Attempts)
		require.Len(t, next.Attempts, 1, "round %d: the next request met no closed connection", i)
		next.Release()
	}
	noLeak(t, rl)
}

// Defect 8: a pooled connection that fails after the request was written
// (the upstream held it, then closed) is a counted attempt, not a silent
// re-send: the trail shows as many attempts as the upstream saw requests.
func TestTransport_SilentResendOnlyWhenNothingWritten(t *testing.T) {
	var seen atomic.Int32
	u := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := readRequest(br); err != nil {
				return
			}
			if seen.Add(1) == 2 {
				time.Sleep(200 * time.Millisecond) // held the request, then hung up
				return
			}
			if _, err := c.Write([]byte(okResponse(`{"ok":1}`))); err != nil {
				return
			}
		}
	})
	rl := relayOver(t, u, ClientOptions{}, Options{MaxRetries: 2})
	drain(t, rl.Do(chatRequest(false)))
	res := rl.Do(chatRequest(false)) // on the pooled connection: request 2 is held, then closed
	require.Equal(t, Answered, res.Outcome)
	defer res.Release()
	assert.Equal(t, int(seen.Load())-1, len(res.Attempts), "every request the upstream saw is an attempt")
	require.Len(t, res.Attempts, 2)
	assert.Equal(t, ReasonConnectError, res.Attempts[0].Reason)
	assert.Equal(t, CauseClosedBeforeAnswer, res.Attempts[0].Cause)
}

// Defect 9: a request to a route that may act on it (files, batches, …) is
// not sent again after it was written and the connection broke; a
// generation route still is.
func TestRelay_NonIdempotentNotResent(t *testing.T) {
	var seen atomic.Int32
	u := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err != nil {
			return
		}
		seen.Add(1)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, mid-way to the answer
		}
		_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-"))
	})
	rl := relayOver(t, u, ClientOptions{}, Options{MaxRetries: 3})
	var h fasthttp.RequestHeader
	h.SetMethod("POST")
	h.SetContentType("application/json")
	for _, path := range []string{"/files", "/batches", "/uploads", "/fine_tuning/jobs", "/assistants", "/threads/runs", "/vector_stores"} {
		seen.Store(0)
		res := rl.Do(&Request{Method: []byte("POST"), Path: []byte(path), Header: &h, Body: []byte(`{"purpose":"batch"}`)})
		assert.Equal(t, Unreachable, res.Outcome, path)
		assert.Len(t, res.Attempts, 1, path)
		assert.Equal(t, int32(1), seen.Load(), "%s: sent once", path)
		res.Release()
	}
	seen.Store(0)
	res := rl.Do(chatRequest(false))
	assert.Equal(t, Unreachable, res.Outcome)
	assert.Len(t, res.Attempts, 4, "a generation route keeps its retries")
	res.Release()
	noLeak(t, rl)
}

// Defect 10: an answer to HEAD has no body, whatever its Content-Length says.
func TestTransport_HEADNoBody(t *testing.T) {
	u := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := readRequest(br); err != nil {
				return
			}
			if _, err := c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")); err != nil {
				return
			}
		}
	})
	rl := relayOver(t, u, ClientOptions{}, Options{ResponseTimeout: 3 * time.Second, StreamFirstByteTimeout: 3 * time.Second})
	var h fasthttp.RequestHeader
	h.SetMethod("HEAD")
	for range 2 {
		res := rl.Do(&Request{Method: []byte("HEAD"), Path: []byte("/models"), Header: &h})
		require.Equal(t, Answered, res.Outcome, "%+v", res.Attempts)
		assert.Equal(t, 200, res.Resp.StatusCode())
		assert.Nil(t, res.Body)
		res.Release()
	}
	assert.Equal(t, int64(1), rl.Targets().All()[0].ConnsOpened(), "the connection is reused after a HEAD")
}

// Defect 11: an answer larger than the buffer limit is relayed as a stream,
// whole, from one attempt — never re-requested because it is large.
func TestRelay_LargeAnswerStreamed(t *testing.T) {
	big := strings.Repeat("x", 3<<20)
	for _, chunked := range []bool{false, true} {
		var seen atomic.Int32
		u := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
			for {
				if _, err := readRequest(br); err != nil {
					return
				}
				seen.Add(1)
				var out string
				if chunked {
					out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
						strconv.FormatInt(int64(len(big)), 16) + "\r\n" + big + "\r\n0\r\n\r\n"
				} else {
					out = okResponse(big)
				}
				if _, err := c.Write([]byte(out)); err != nil {
					return
				}
			}
		})
		rl := relayOver(t, u, ClientOptions{BufferLimit: 64 << 10}, Options{MaxRetries: 2})
		res := rl.Do(chatRequest(false))
		require.Equal(t, Answered, res.Outcome, "chunked=%v: %+v", chunked, res.Attempts)
		require.NotNil(t, res.Body, "relayed as a stream")
		if !chunked {
			assert.Equal(t, len(big), res.Body.ContentLength())
		}
		got := drain(t, res)
		assert.Equal(t, len(big), len(got))
		assert.Equal(t, int32(1), seen.Load(), "one request upstream")
		// A small answer on the same connection is read whole.
		res = rl.Do(chatRequest(false))
		assert.Len(t, res.Attempts, 1)
		res.Release()
		noLeak(t, rl)
	}
}

// The attempt trail names why a connection failed.
func TestRelay_AttemptCause(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedPort := "http://" + ln.Addr().String() + "/v1"
	ln.Close()
	reset := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err == nil {
			_ = c.(*net.TCPConn).SetLinger(0)
		}
	})
	closed := rawUpstream(t, func(c net.Conn, br *bufio.Reader) { _, _ = readRequest(br) })
	silent := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		_, _ = readRequest(br)
		_, _ = io.Copy(io.Discard, br)
	})
	plain := rawUpstream(t, func(c net.Conn, br *bufio.Reader) { _, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")) })
	cases := []struct {
		url  string
		want Cause
	}{
		{closedPort, CauseRefused},
		{"http://no-such-host.invalid/v1", CauseDNS},
		{reset, CauseReset},
		{closed, CauseClosedBeforeAnswer},
		{silent, CauseTimeout},
		{strings.Replace(plain, "http://", "https://", 1), CauseTLS},
	}
	for _, tc := range cases {
		rl := relayOver(t, tc.url, ClientOptions{}, Options{ResponseTimeout: 300 * time.Millisecond, StreamFirstByteTimeout: 300 * time.Millisecond})
		res := rl.Do(chatRequest(false))
		require.NotEmpty(t, res.Attempts, tc.url)
		assert.Equal(t, tc.want, res.Attempts[0].Cause, "%s: %+v", tc.url, res.Attempts[0])
		res.Release()
	}
}

// The watch lives beneath TLS and the chunked parser: an https stream that
// pauses longer than the keep-alive period, even inside a chunk, reads on
// unharmed, and onSilence runs during the pauses.
func TestTransport_WatchedStreamOverTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "data: {\"n\":0}\n\n")
		w.(http.Flusher).Flush()
		for i := 1; i <= 3; i++ {
			time.Sleep(250 * time.Millisecond)
			_, _ = io.WriteString(w, "data: {\"n\":"+strconv.Itoa(i)+"}\n\n")
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	rl := relayOver(t, srv.URL+"/v1", ClientOptions{TLSConfig: &tls.Config{RootCAs: roots}}, Options{})
	res := rl.Do(chatRequest(true))
	require.Equal(t, Answered, res.Outcome, "%+v", res.Attempts)
	require.True(t, res.SSE)
	silences := 0
	res.Body.Watch(time.Second, 100*time.Millisecond, func() error { silences++; return nil })
	got := drain(t, res)
	assert.Equal(t, "data: {\"n\":0}\n\ndata: {\"n\":1}\n\ndata: {\"n\":2}\n\ndata: {\"n\":3}\n\n", got)
	assert.GreaterOrEqual(t, silences, 3)
}

// A pooled connection keeps its last exchange's deadline while it idles
// (release no longer clears it): one reused after that deadline passed must
// still carry the next request, on the same connection.
func TestTransport_ReuseAfterIdleDeadlinePassed(t *testing.T) {
	var n atomic.Int32
	u := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := readRequest(br); err != nil {
				return
			}
			if _, err := c.Write([]byte(okResponse("answer-" + strconv.Itoa(int(n.Add(1)))))); err != nil {
				return
			}
		}
	})
	rl := relayOver(t, u, ClientOptions{}, Options{ResponseTimeout: 80 * time.Millisecond, StreamFirstByteTimeout: 80 * time.Millisecond})
	for i := 1; i <= 3; i++ {
		res := rl.Do(chatRequest(false))
		require.Equal(t, Answered, res.Outcome, "request %d", i)
		assert.Equal(t, "answer-"+strconv.Itoa(i), drain(t, res))
		time.Sleep(150 * time.Millisecond) // the exchange's deadline passes while the conn idles
	}
	assert.EqualValues(t, 1, rl.Targets().All()[0].ConnsOpened(), "the idle connection was reused")
	noLeak(t, rl)
}

// Chunks of a chunked answer that arrived together are read together: one
// Read, so the relay writes them to the client at once. A chunk that has
// not wholly arrived is not waited for when bytes are already in hand.
func TestStreamBody_ReadTakesArrivedChunksTogether(t *testing.T) {
	chunk := func(s string) string { return strconv.FormatInt(int64(len(s)), 16) + "\r\n" + s + "\r\n" }
	steps := []string{
		chunk("data: 2\n\n") + chunk("data: 3\n\n") + chunk("data: 4\n\n"),
		chunk("data: 5\n\n") + "9\r\ndata: 6\n\n", // the next chunk's CRLF is missing
		"\r\n" + chunk("data: 7\n\n") + "1",       // the next size line is cut
		"1\r\ndata: 8 is long\n\n\r\n" + chunk("data: 9\n\n") + "0\r\n\r\n",
	}
	step := make(chan struct{})
	u := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err != nil {
			return
		}
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"+chunk("data: 1\n\n")); err != nil {
			return
		}
		for _, s := range steps {
			select {
			case <-step:
			case <-time.After(10 * time.Second):
				return
			}
			if _, err := io.WriteString(c, s); err != nil {
				return
			}
		}
		_, _ = br.ReadByte() // hold the connection until the client is done
	})
	rl := relayOver(t, u, ClientOptions{}, Options{})
	res := rl.Do(chatRequest(true))
	require.Equal(t, Answered, res.Outcome, "%+v", res.Attempts)
	defer res.Release()
	require.Equal(t, "data: 1\n\n", string(res.Prefix), "the probe reads the first chunk")

	// read is one Read, which must not wait for bytes the upstream holds back.
	buf := make([]byte, 4096)
	read := func() (string, error) {
		type got struct {
			n   int
			err error
		}
		done := make(chan got, 1)
		go func() { n, err := res.Body.Read(buf); done <- got{n, err} }()
		select {
		case g := <-done:
			return string(buf[:g.n]), g.err
		case <-time.After(10 * time.Second):
			res.Body.Abort()
			t.Fatal("Read waits for bytes the upstream has not sent")
			return "", nil
		}
	}
	step <- struct{}{}
	got, err := read()
	require.NoError(t, err)
	if got == "data: 2\n\n" { // the rest may come in a later segment; then it is read whole
		more, err := read()
		require.NoError(t, err)
		got += more
	}
	assert.Equal(t, "data: 2\n\ndata: 3\n\ndata: 4\n\n", got, "three chunks that arrived in one write come in one Read")

	step <- struct{}{}
	got, err = read()
	require.NoError(t, err)
	assert.Equal(t, "data: 5\n\n", got, "a chunk whose CRLF has not arrived is left for later")

	step <- struct{}{}
	got, err = read()
	require.NoError(t, err)
	assert.Equal(t, "data: 6\n\ndata: 7\n\n", got, "a cut size line is left for later")

	step <- struct{}{}
	rest, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	assert.Equal(t, "data: 8 is long\n\ndata: 9\n\n", string(rest))
}

func TestNextChunkBuffered(t *testing.T) {
	for _, tc := range []struct {
		buffered string
		want     bool
	}{
		{"", false},
		{"5", false},                      // size line cut
		{"5\r", false},                    // size line cut
		{"5\r\n", false},                  // no data yet: the read would wait
		{"5\r\nhel", true},                // part of the data: read as it is
		{"5\r\nhello", false},             // data whole, CRLF missing: the read would wait for it
		{"5\r\nhello\r", false},           // half the CRLF
		{"5\r\nhello\r\n", true},          // the whole chunk
		{"5;ext=1\r\nhello\r\n", true},    // with an extension
		{"A\r\n0123456789\r\n", true},     // upper-case hex
		{"a\r\n0123456789\r\n4", true},    // and the start of the next
		{"0\r\n\r\n", false},              // the last chunk is left to the next Read
		{"x\r\nhello\r\n", false},         // not a size: left to the parser's error
		{"7fffffff\r\nhello", false},      // too big to be buffered
		{"ffffffffffffffffff\r\n", false}, // overflow
	} {
		br := bufio.NewReaderSize(strings.NewReader(tc.buffered), 64)
		if tc.buffered != "" {
			_, _ = br.Peek(1) // fill the buffer
		}
		assert.Equal(t, tc.want, nextChunkBuffered(br), "%q", tc.buffered)
	}
}

// thenWait gives b, then tells that a read would have waited for the network.
type thenWait struct {
	b      []byte
	waited bool
}

func (r *thenWait) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		r.waited = true
		return 0, errors.New("the read would wait for the network")
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// Whatever is buffered, when nextChunkBuffered says the next chunk can be
// read, fasthttp's chunk reader reads it without going to the network.
func FuzzNextChunkBuffered(f *testing.F) {
	for _, s := range []string{"5\r\nhello\r\n", "5\r\nhel", "5\r\nhello", "5;x=y\r\nhello\r\n0\r\n\r\n",
		"A\r\n0123456789\r\n", "0\r\n\r\n", "5\nhello\r\n", "5 \r\nhello\r\n", "5\r\r\nhello\r\n"} {
		f.Add([]byte(s))
	}
	const head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 512 {
			return
		}
		wire := &thenWait{b: append([]byte(head), body...)}
		br := bufio.NewReaderSize(wire, 4096)
		var resp fasthttp.Response
		resp.StreamBody = true
		if err := resp.Read(br); err != nil {
			return
		}
		defer func() { _ = resp.CloseBodyStream() }()
		if wire.waited || !nextChunkBuffered(br) {
			return
		}
		p := make([]byte, 4096)
		n, err := resp.BodyStream().Read(p)
		if wire.waited {
			t.Fatalf("%q: the chunk was said to be buffered, but reading it went to the network (%d bytes, %v)", body, n, err)
		}
		if err == nil && n == 0 {
			t.Fatalf("%q: the chunk was said to be buffered, but reading it gave nothing", body)
		}
	})
}
