package sim

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// IDHeader is the request header that carries a caller's request id. The
// server echoes it in the response headers, in the default answer's id
// ("chatcmpl-sim-<id>", "msg_sim_<id>", "resp_sim_<id>") and, on default
// streams, as an SSE `id: <id>` line in every event, so that a client can
// tell its own answer from another's. [Server.CountID] counts the requests
// that carried an id.
const IDHeader = "X-Sim-Id"

// ChaosFaults are the faults [Chaos] draws from when its Faults list is
// empty: every fault a misbehaving upstream or network inflicts.
var ChaosFaults = []Fault{
	FaultDoubleAnswer, FaultIdleBytes, FaultReset, FaultResetMidHeaders,
	FaultClose, FaultShortBody, FaultCutStream, FaultPauseMidEvent, FaultStall, FaultHang,
}

// Chaos injects faults at random into default-simulated answers of the
// generation routes (chat completions, messages, responses). Scripted
// steps are never affected.
//
// The draw is a pure function of Seed, the request's id ([IDHeader], else
// its arrival number) and how many requests with that id came before, so a
// run with the same seed and ids injects the same faults into the same
// requests whatever the interleaving.
type Chaos struct {
	// Seed selects the run.
	Seed uint64
	// Rate is the share (0..1) of eligible requests that get a fault.
	Rate float64
	// Faults to draw from, uniformly; empty means ChaosFaults.
	Faults []Fault
	// Pause is the silence in the middle of an event for
	// FaultPauseMidEvent. Zero means 300ms.
	Pause time.Duration
	// IdleDelay is how long after its answer FaultIdleBytes waits for the
	// connection to sit idle before writing to it. Zero means 30ms.
	IdleDelay time.Duration
}

func (ch *Chaos) pause() time.Duration {
	if ch.Pause > 0 {
		return ch.Pause
	}
	return 300 * time.Millisecond
}

func (ch *Chaos) idleDelay() time.Duration {
	if ch.IdleDelay > 0 {
		return ch.IdleDelay
	}
	return 30 * time.Millisecond
}

// Draw returns the fault drawn for the n-th request (0-based) carrying
// key: its id, or its arrival number when it has none.
func (ch *Chaos) Draw(key string, n int) Fault {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%d", key, n)
	r := rand.New(rand.NewPCG(ch.Seed, h.Sum64()))
	if r.Float64() >= ch.Rate {
		return FaultNone
	}
	faults := ch.Faults
	if len(faults) == 0 {
		faults = ChaosFaults
	}
	return faults[r.IntN(len(faults))]
}

// CountID returns how many requests carrying id (see [IDHeader]) the
// server received.
func (s *Server) CountID(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id]
}

// OpenConns returns the number of client connections open right now, as
// the server sees them (idle, busy, hijacked or hung).
func (s *Server) OpenConns() int { return int(s.openConns.Load()) }

// tagEvents adds an `id: <id>` line to every event (before its blank line).
func tagEvents(events []string, id string) []string {
	if id == "" {
		return events
	}
	out := make([]string, len(events))
	for i, ev := range events {
		body, ok := strings.CutSuffix(ev, "\n\n")
		if !ok {
			out[i] = ev
			continue
		}
		out[i] = body + "\nid: " + id + "\n\n"
	}
	return out
}

// rawResponse renders a complete response as wire text: with Events a
// chunked text/event-stream, else a body with Content-Length.
func rawResponse(st *Step, id string) string {
	var b strings.Builder
	hdr := http.Header{}
	for k, v := range st.Header {
		hdr.Set(k, v)
	}
	if id != "" {
		hdr.Set(IDHeader, id)
	}
	status := st.status()
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	if st.Events != nil {
		if hdr.Get("Content-Type") == "" {
			hdr.Set("Content-Type", "text/event-stream")
		}
		hdr.Set("Transfer-Encoding", "chunked")
		_ = hdr.Write(&b)
		b.WriteString("\r\n")
		for _, ev := range st.Events {
			if ev != "" {
				fmt.Fprintf(&b, "%x\r\n%s\r\n", len(ev), ev)
			}
		}
		b.WriteString("0\r\n\r\n")
		return b.String()
	}
	if hdr.Get("Content-Type") == "" {
		hdr.Set("Content-Type", "application/json")
	}
	hdr.Set("Content-Length", strconv.Itoa(len(st.Body)))
	_ = hdr.Write(&b)
	b.WriteString("\r\n")
	b.WriteString(st.Body)
	return b.String()
}

// unsolicited answers the request, then sends more: a second complete
// answer at once (FaultDoubleAnswer), or, when the connection has sat idle
// for Chaos.IdleDelay, the answer again (FaultIdleBytes). The connection
// is then served as usual again.
func (c *call) unsolicited(st *Step, idle bool) {
	conn, rw, err := c.rc.Hijack()
	if err != nil {
		return
	}
	if !c.s.trackHijacked(conn) {
		_ = conn.Close()
		return
	}
	defer c.s.untrackHijacked(conn)
	_ = conn.SetDeadline(time.Time{})
	resp := rawResponse(st, c.rec.ID)
	out := resp
	if !idle {
		out += resp // one write: the extra answer arrives with the first
	}
	if _, err := rw.WriteString(out); err != nil || rw.Flush() != nil {
		c.markGone()
		_ = conn.Close()
		return
	}
	var injected time.Time
	if !idle {
		injected = time.Now() // the extra answer is unsolicited too
	}
	if idle {
		_ = conn.SetReadDeadline(time.Now().Add(c.s.chaosIdleDelay()))
		_, err := rw.Reader.Peek(1)
		_ = conn.SetReadDeadline(time.Time{})
		switch {
		case err == nil:
			// The client already sent its next request: not idle.
		case isTimeout(err):
			if _, err := rw.WriteString(resp); err != nil || rw.Flush() != nil {
				_ = conn.Close()
				return
			}
			injected = time.Now()
		default:
			_ = conn.Close() // the client closed it
			return
		}
	}
	c.s.serveAgain(conn, rw.Reader, c.rec.Conn, injected)
}

func (s *Server) chaosIdleDelay() time.Duration {
	if s.opts.Chaos != nil {
		return s.opts.Chaos.idleDelay()
	}
	return 30 * time.Millisecond
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// servedAgain is a hijacked connection handed back to the HTTP server; it
// reads through the bufio.Reader that may hold bytes already received.
type servedAgain struct {
	net.Conn
	r *bufio.Reader
	// injected is when unsolicited bytes were written on the connection
	// (zero: none); the next request on it reports the delay.
	injected  time.Time
	firstRead atomic.Int64 // when the client's next bytes came (unix ns), after injected
	reported  atomic.Bool  // the next request took injected
	num       int          // the connection's number (see Received.Conn)
	ln        *oneConnListener
}

func (c *servedAgain) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 && !c.injected.IsZero() {
		c.firstRead.CompareAndSwap(0, time.Now().UnixNano())
	}
	return n, err
}

// afterInjected is how long after the unsolicited bytes the client's next
// bytes came; zero when nothing was injected or nothing came.
func (c *servedAgain) afterInjected() time.Duration {
	at := c.firstRead.Load()
	if c.injected.IsZero() || at == 0 {
		return 0
	}
	return max(time.Duration(at-c.injected.UnixNano()), time.Nanosecond)
}

func (c *servedAgain) Close() error {
	c.ln.Close()
	return c.Conn.Close()
}

// oneConnListener accepts one connection, then blocks until closed.
type oneConnListener struct {
	conn   net.Conn
	addr   net.Addr
	once   sync.Once
	mu     sync.Mutex
	given  bool
	closed chan struct{}
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if !l.given {
		l.given = true
		l.mu.Unlock()
		return l.conn, nil
	}
	l.mu.Unlock()
	<-l.closed
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return l.addr }

// serveAgain hands a hijacked connection back to the HTTP server, so the
// client's next requests on it are answered as usual. (net/http has no way
// to un-hijack; serving a one-connection listener is the way back.)
func (s *Server) serveAgain(conn net.Conn, r *bufio.Reader, num int, injected time.Time) {
	ln := &oneConnListener{addr: s.ln.Addr(), closed: make(chan struct{})}
	ln.conn = &servedAgain{Conn: conn, r: r, injected: injected, num: num, ln: ln}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = conn.Close()
		return
	}
	s.serving.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.serving.Done()
		_ = s.srv.Serve(ln) // returns once the connection closed, or at Close
		_ = ln.conn.Close()
	}()
}
