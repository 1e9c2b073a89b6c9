package sim

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Step is one scripted answer, queued with [Server.Push]. The zero Step
// answers 200 with an empty application/json body.
type Step struct {
	// Status is the response status. Zero means 200.
	Status int

	// Header holds extra response headers, e.g. "Retry-After": "2" or
	// "retry-after-ms": "1500". A "Content-Type" here replaces the default
	// one (application/json, or text/event-stream with Events).
	Header map[string]string

	// Body is the non-stream response body, sent with Content-Length.
	// Ignored when Events is non-nil.
	Body string

	// Events, when non-nil, makes the answer a text/event-stream: each
	// element is written and flushed as its own chunk, verbatim (include the
	// trailing "\n\n" yourself). An empty element is skipped.
	Events []string

	// FirstDelay is the pause after the stream headers before the first
	// event.
	FirstDelay time.Duration

	// Interval is the pause between stream events.
	Interval time.Duration

	// BeforeEvent, when set, is called with each event's index just before
	// that event is written (after FirstDelay or Interval), on the
	// handler's goroutine: it may block, e.g. to hold event i until the
	// client has seen what the proxy made of event i-1, and may note the
	// time the event leaves. It must return once the test is over (bound
	// its wait). Used by plain Events answers (no Fault).
	BeforeEvent func(i int)

	// HeaderDelay is a pause before anything is written (a silent
	// upstream), faults included; it ends early if the client goes away.
	HeaderDelay time.Duration

	// Fault injects a transport failure; see [Fault].
	Fault Fault

	// Key, when set, restricts the step to requests presenting this key
	// (see [Received.Key]), so tests can script per-target behaviour when
	// targets share one server. A request with another key leaves the step
	// queued and takes the next matching step, or the default simulation.
	Key string

	// Path, when set, restricts the step to requests for this exact path
	// (without query), e.g. "/v1/models"; others leave it queued.
	Path string

	// Model, when set, restricts the step to requests whose JSON body's
	// "model" is this (per-model faults); others leave it queued.
	Model string
}

func (st *Step) status() int {
	if st.Status == 0 {
		return http.StatusOK
	}
	return st.Status
}

// Fault is a transport failure a [Step] injects. Every fault first reads the
// whole request (and waits HeaderDelay).
type Fault int

const (
	// FaultNone answers normally.
	FaultNone Fault = iota

	// FaultReset closes the connection with a TCP RST (SO_LINGER 0) before
	// any response byte: the client's read fails with ECONNRESET.
	FaultReset

	// FaultClose closes the connection cleanly (FIN) before any response
	// byte: the client reads EOF.
	FaultClose

	// FaultHang never answers; the handler waits until the client leaves
	// or the server closes.
	FaultHang

	// FaultCutStream sends the status line and headers (chunked) and the
	// Events, then closes the connection without the terminating zero-length
	// chunk, so the client sees an incomplete body (io.ErrUnexpectedEOF from
	// net/http). With no Events but a Body, it announces Content-Length and
	// sends only the first half of Body. The response is written by hand on
	// the hijacked connection.
	FaultCutStream

	// FaultStall sends the headers and Events, then goes silent until the
	// client leaves or the server closes. With no Events but a Body, it
	// announces Content-Length and sends only the first half of Body.
	FaultStall

	// FaultDoubleAnswer sends the answer twice in one write: a second,
	// unsolicited response follows the first on the connection, which
	// is then served as usual. A client that pools the connection without
	// noticing the extra bytes reads them as the answer to its next
	// request.
	FaultDoubleAnswer

	// FaultIdleBytes sends the answer, waits until the connection has sat
	// idle for Chaos.IdleDelay (30ms without Chaos) and then writes the
	// answer again, unsolicited; if the client sends its next request
	// first, nothing is injected. See [Received.AfterUnsolicited].
	FaultIdleBytes

	// FaultResetMidHeaders sends the first bytes of the status line and
	// headers, then resets the connection (RST).
	FaultResetMidHeaders

	// FaultShortBody announces a Content-Length longer than the body it
	// sends (Body, or the Events joined), sends the body and closes the
	// connection (FIN).
	FaultShortBody

	// FaultPauseMidEvent answers normally, but writes the middle event
	// (or the body) in two halves with Chaos.Pause (300ms without Chaos)
	// of silence between them.
	FaultPauseMidEvent
)

// String returns the constant's name, e.g. "FaultReset".
func (f Fault) String() string {
	switch f {
	case FaultNone:
		return "FaultNone"
	case FaultReset:
		return "FaultReset"
	case FaultClose:
		return "FaultClose"
	case FaultHang:
		return "FaultHang"
	case FaultCutStream:
		return "FaultCutStream"
	case FaultStall:
		return "FaultStall"
	case FaultDoubleAnswer:
		return "FaultDoubleAnswer"
	case FaultIdleBytes:
		return "FaultIdleBytes"
	case FaultResetMidHeaders:
		return "FaultResetMidHeaders"
	case FaultShortBody:
		return "FaultShortBody"
	case FaultPauseMidEvent:
		return "FaultPauseMidEvent"
	}
	return "Fault(" + strconv.Itoa(int(f)) + ")"
}

// runStep answers the request as the step says.
func (c *call) runStep(st *Step) {
	if !c.wait(st.HeaderDelay) {
		return
	}
	switch st.Fault {
	case FaultReset, FaultClose:
		if h, ok := c.hijack(); ok {
			c.release(h, st.Fault == FaultReset)
		}
		return
	case FaultHang:
		c.waitForever()
		return
	case FaultCutStream:
		c.cutStream(st)
		return
	case FaultDoubleAnswer, FaultIdleBytes:
		c.unsolicited(st, st.Fault == FaultIdleBytes)
		return
	case FaultResetMidHeaders:
		if h, ok := c.hijack(); ok {
			_, _ = h.rw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: applic")
			_ = h.rw.Flush()
			c.release(h, true)
		}
		return
	case FaultShortBody:
		c.shortBody(st)
		return
	}

	for k, v := range st.Header {
		c.w.Header().Set(k, v)
	}
	switch {
	case st.Fault == FaultStall && st.Events == nil && st.Body != "":
		h := c.w.Header()
		if h.Get("Content-Type") == "" {
			h.Set("Content-Type", "application/json")
		}
		h.Set("Content-Length", strconv.Itoa(len(st.Body)))
		c.w.WriteHeader(st.status())
		if c.writeFlush(st.Body[:len(st.Body)/2]) {
			c.waitForever()
		}
	case st.Fault == FaultStall:
		if c.stream(st.status(), st.Events, st.FirstDelay, st.Interval) {
			c.waitForever()
		}
	case st.Fault == FaultPauseMidEvent:
		c.pauseMidEvent(st)
	case st.Events != nil:
		c.beforeEvent = st.BeforeEvent
		c.stream(st.status(), st.Events, st.FirstDelay, st.Interval)
	default:
		c.writeBody(st.status(), "application/json", st.Body)
	}
}

// hijacked is a connection taken over from net/http.
type hijacked struct {
	conn     net.Conn
	rw       *bufio.ReadWriter
	peerGone chan struct{} // closed when a read fails: the client left, or we closed
	// unread is what the client sent after the hijack (up to maxUnread),
	// read by the reader goroutine: requests queued behind this answer.
	unread bytes.Buffer
}

// hijack takes the connection over from net/http; from then on the call's
// waits watch the connection itself for the client leaving. Release it
// with release.
func (c *call) hijack() (*hijacked, bool) {
	conn, rw, err := c.rc.Hijack()
	if err != nil {
		return nil, false // cannot happen: this server speaks HTTP/1.1 only
	}
	if !c.s.trackHijacked(conn) {
		_ = conn.Close()
		return nil, false
	}
	_ = conn.SetDeadline(time.Time{})
	h := &hijacked{conn: conn, rw: rw, peerGone: make(chan struct{})}
	go func() {
		defer close(h.peerGone)
		// The client normally sends nothing more; what it does send is kept
		// for Server.Behind. The read ends with EOF when it closes its
		// side, or with an error when we close ours.
		_, _ = io.Copy(&h.unread, io.LimitReader(rw.Reader, maxUnread))
		_, _ = io.Copy(io.Discard, rw.Reader)
	}()
	c.clientGone = h.peerGone
	return h, true
}

// release closes a hijacked connection, with an RST if rst, waits for its
// reader goroutine and notes the requests that queued behind the answer.
func (c *call) release(h *hijacked, rst bool) {
	if tc := tcpConn(h.conn); tc != nil && rst {
		_ = tc.SetLinger(0)
	}
	_ = h.conn.Close()
	<-h.peerGone
	c.s.untrackHijacked(h.conn)
	c.s.noteBehind(c.rec.ID, h.unread.Bytes())
}

// maxUnread bounds what a hijacked connection keeps of the bytes the
// client sent after the hijack.
const maxUnread = 1 << 20

// cutStream writes the response by hand and closes the connection before
// the body is complete.
func (c *call) cutStream(st *Step) {
	h, ok := c.hijack()
	if !ok {
		return
	}
	defer c.release(h, false)

	hdr := http.Header{}
	for k, v := range st.Header {
		hdr.Set(k, v)
	}
	half := st.Events == nil && st.Body != ""
	if half {
		if hdr.Get("Content-Type") == "" {
			hdr.Set("Content-Type", "application/json")
		}
		hdr.Del("Transfer-Encoding")
		hdr.Set("Content-Length", strconv.Itoa(len(st.Body)))
	} else {
		if hdr.Get("Content-Type") == "" {
			hdr.Set("Content-Type", "text/event-stream")
		}
		if hdr.Get("Cache-Control") == "" {
			hdr.Set("Cache-Control", "no-cache")
		}
		hdr.Del("Content-Length")
		hdr.Set("Transfer-Encoding", "chunked")
	}
	status := st.status()
	w := h.rw.Writer
	fmt.Fprintf(w, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	_ = hdr.Write(w)
	_, _ = w.WriteString("\r\n")
	if err := w.Flush(); err != nil {
		c.markGone()
		return
	}
	if half {
		_, _ = w.WriteString(st.Body[:len(st.Body)/2])
		if w.Flush() != nil {
			c.markGone()
		}
		return
	}
	for i, ev := range st.Events {
		d := st.Interval
		if i == 0 {
			d = st.FirstDelay
		}
		if !c.wait(d) {
			return
		}
		if ev == "" {
			continue // a zero-length chunk would end the body
		}
		fmt.Fprintf(w, "%x\r\n%s\r\n", len(ev), ev)
		if w.Flush() != nil {
			c.markGone()
			return
		}
	}
}

// shortBody announces more body than it sends, then closes the connection.
func (c *call) shortBody(st *Step) {
	h, ok := c.hijack()
	if !ok {
		return
	}
	defer c.release(h, false)
	full := *st
	if st.Events != nil {
		full.Body = strings.Join(st.Events, "")
		full.Events = nil
		if full.Header == nil || full.Header["Content-Type"] == "" {
			full.Header = map[string]string{"Content-Type": "text/event-stream"}
			for k, v := range st.Header {
				full.Header[k] = v
			}
		}
	}
	wire := rawResponse(&full, c.rec.ID)
	// Announce 100 bytes more than there are.
	cl := "Content-Length: " + strconv.Itoa(len(full.Body))
	wire = strings.Replace(wire, cl, "Content-Length: "+strconv.Itoa(len(full.Body)+100), 1)
	if _, err := h.rw.WriteString(wire); err != nil || h.rw.Flush() != nil {
		c.markGone()
	}
}

// pauseMidEvent answers with the middle event (or the body) cut in two
// halves, a pause between them.
func (c *call) pauseMidEvent(st *Step) {
	pause := 300 * time.Millisecond
	if ch := c.s.opts.Chaos; ch != nil {
		pause = ch.pause()
	}
	if st.Events == nil {
		h := c.w.Header()
		if h.Get("Content-Type") == "" {
			h.Set("Content-Type", "application/json")
		}
		h.Set("Content-Length", strconv.Itoa(len(st.Body)))
		c.w.WriteHeader(st.status())
		half := len(st.Body) / 2
		if c.writeFlush(st.Body[:half]) && c.wait(pause) {
			c.writeFlush(st.Body[half:])
		}
		return
	}
	mid := len(st.Events) / 2
	if !c.stream(st.status(), st.Events[:mid], st.FirstDelay, st.Interval) || mid >= len(st.Events) {
		return
	}
	ev := st.Events[mid]
	half := len(ev) / 2
	if !c.wait(st.Interval) || !c.writeFlush(ev[:half]) || !c.wait(pause) || !c.writeFlush(ev[half:]) {
		return
	}
	c.sendEvents(st.Events[mid+1:], st.Interval, st.Interval)
}
