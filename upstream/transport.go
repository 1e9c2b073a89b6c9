package upstream

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// The connection layer. Each target has one fasthttp.HostClient, used only
// for its connection API (AcquireConn, ReleaseConn, CloseConn): the pool with
// its limit, waiters (MaxConnWaitTimeout; a returned connection goes to a
// waiter first), DNS caching (the dialer) and idle reaping all come from
// there. What fasthttp cannot do lives here:
//   - the exchange on a connection we hold, so another goroutine can cancel
//     it by closing that connection (a client that left, see Canceler);
//   - the streamed body, which keeps its connection until the stream ends;
//   - the check that a pooled connection has nothing to read before it is
//     used again (unread bytes or bytes that arrived while idle would hand
//     one client the answer meant for another), see conn.go;
//   - a stream's idle timeout and keep-alive hook (conn.go).
// Requests and responses are still written and parsed by fasthttp
// (Request.Write, Response.Read).

// ErrNoFreeConns is returned when a target's pool is full and no connection
// came free within the connect timeout.
var ErrNoFreeConns = errors.New("no free upstream connection")

// errCancelled ends an attempt whose client went away.
var errCancelled = errors.New("request cancelled: the client went away")

// maxSilentResends bounds how often one attempt moves to another pooled
// connection that failed before a byte of the request reached it.
const maxSilentResends = 2

// connections is one target's connection pool.
type connections struct {
	hc     *fasthttp.HostClient
	dialer func(addr string) (net.Conn, error) // TCP, or a tunnel through the outbound proxy
	tls    *tls.Config                         // nil: plain HTTP
	// connectTimeout bounds the TCP connect (dialer) and the TLS handshake.
	connectTimeout time.Duration
	opened         atomic.Int64
	closed         atomic.Bool
}

func newConnections(addr string, tlsConfig *tls.Config, dialer func(string) (net.Conn, error), o ClientOptions) *connections {
	maxConns := o.MaxConns
	if maxConns <= 0 {
		maxConns = 16384
	}
	cs := &connections{dialer: dialer, tls: tlsConfig, connectTimeout: o.ConnectTimeout}
	cs.hc = &fasthttp.HostClient{
		Addr: addr,
		// TLS is done by dial (to classify its failures and to keep our
		// wrapper beneath it), so the HostClient itself sees a plain conn.
		Dial:     cs.dial,
		MaxConns: maxConns,
		// A request waits this long for a free connection (0 would fail at once).
		MaxConnWaitTimeout:  max(o.ConnectTimeout, time.Millisecond),
		MaxIdleConnDuration: 20 * time.Second, // below common upstream keep-alive limits, so a pooled conn is rarely stale
		ConnPoolStrategy:    fasthttp.LIFO,
		ReadBufferSize:      16 << 10,
		WriteBufferSize:     4 << 10,
	}
	return cs
}

// dial opens one connection: TCP (or a proxy tunnel), our wrapper, then TLS.
// Errors carry their cause (see Cause).
func (cs *connections) dial(addr string) (net.Conn, error) {
	raw, err := cs.dialer(addr)
	if err != nil {
		return nil, dialError(err)
	}
	c := newConn(raw)
	cs.opened.Add(1)
	if cs.tls == nil {
		return c, nil
	}
	tc := tls.Client(c, cs.tls)
	_ = c.SetDeadline(time.Now().Add(cs.connectTimeout))
	if err := tc.Handshake(); err != nil {
		raw.Close()
		if isTimeout(err) {
			return nil, &CauseError{Cause: CauseTimeout, Err: err}
		}
		return nil, &CauseError{Cause: CauseTLS, Err: err}
	}
	_ = c.SetDeadline(time.Time{})
	return tc, nil
}

// close stops pooling and closes the idle connections; connections in use
// close when their exchange ends.
func (cs *connections) close() {
	cs.closed.Store(true)
	cs.hc.CloseIdleConnections()
}

// idleCount is the number of pooled idle connections (for tests).
func (cs *connections) idleCount() int { return cs.hc.IdleConnsCount() }

// openCount is the number of open connections, idle or in use (for tests).
func (cs *connections) openCount() int { return cs.hc.ConnsCount() }

// connOf finds our wrapper beneath the connection fasthttp holds.
func connOf(nc net.Conn) *conn {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	return nc.(*conn)
}

// lease is one checked-out connection.
type lease struct {
	cs *connections
	// cc is fasthttp's *clientConn from AcquireConn. Its type is unexported,
	// so it is held as any and given back through giveBack.
	cc any
	nc net.Conn // the connection requests are written to (a *tls.Conn or c)
	c  *conn    // our wrapper beneath nc
	br *bufio.Reader
}

// giveBack calls f (HostClient.ReleaseConn or CloseConn) with cc converted
// back to the type fasthttp gave it, which only type inference can name.
func giveBack[C any](hc *fasthttp.HostClient, cc any, f func(*fasthttp.HostClient, C)) {
	f(hc, cc.(C))
}

// acquire checks out a connection: an idle one that has nothing to read, or
// a new one. It waits up to the connect timeout for a free one.
func (cs *connections) acquire(l *lease) error {
	for range 64 { // bounded: each pass closes one unusable idle connection
		cc, err := cs.hc.AcquireConn(0, false)
		if err != nil {
			if errors.Is(err, fasthttp.ErrNoFreeConns) || errors.Is(err, fasthttp.ErrTimeout) {
				return &CauseError{Cause: CauseNoFreeConn, Err: ErrNoFreeConns}
			}
			var ce *CauseError
			if !errors.As(err, &ce) {
				err = dialError(err)
			}
			return err
		}
		nc := cc.Conn()
		c := connOf(nc)
		if c.uses > 0 && c.readable() {
			// Bytes or EOF while idle: an unsolicited answer, or the upstream
			// closed it. Never reused (net/http and nginx do the same).
			giveBack(cs.hc, cc, (*fasthttp.HostClient).CloseConn)
			continue
		}
		c.uses++
		c.written = 0
		*l = lease{cs: cs, cc: cc, nc: nc, c: c}
		return nil
	}
	return &CauseError{Cause: CauseNoFreeConn, Err: ErrNoFreeConns}
}

// release returns the connection to the pool when reusable is true and
// nothing is left unread on it; otherwise it closes it.
func (l *lease) release(reusable bool) {
	if l.cc == nil {
		return
	}
	if l.br != nil {
		if l.br.Buffered() > 0 {
			reusable = false // bytes beyond the answer: never reused
		}
		l.cs.hc.ReleaseReader(l.br)
		l.br = nil
	}
	l.c.stopWatch()
	if reusable && !l.cs.closed.Load() && !l.c.interrupted.Load() {
		// The exchange's deadline stays armed while the connection idles:
		// nothing reads or writes an idle connection (the idle check peeks
		// through the descriptor, outside the poller), and the next exchange
		// sets its own deadline before its first write. Clearing it here
		// cost a timer operation per request.
		giveBack(l.cs.hc, l.cc, (*fasthttp.HostClient).ReleaseConn)
	} else {
		giveBack(l.cs.hc, l.cc, (*fasthttp.HostClient).CloseConn)
	}
	l.cc = nil
}

// roundTrip sends out and reads the answer's headers by deadline; the body
// stays on the connection, read through the returned StreamBody (nil when
// the answer has no body, e.g. to HEAD; the connection is then settled).
// cancel stays bound to the connection until the caller unbinds it, so a
// client that leaves while the body is probed is noticed too.
//
// A pooled connection that fails before a byte of the request reached it is
// replaced silently (Go's rule); any other failure is the attempt's error,
// a *CauseError saying whether the request was written.
func (cs *connections) roundTrip(out *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, cancel *Canceler) (*StreamBody, error) {
	resp.StreamBody = true
	resp.SkipBody = out.Header.IsHead()
	for try := 0; ; try++ {
		var l lease
		if err := cs.acquire(&l); err != nil {
			return nil, err
		}
		if !cancel.bind(l.c) {
			l.release(false)
			return nil, errCancelled
		}
		err := l.exchange(out, resp, deadline)
		if err == nil {
			if !resp.IsBodyStream() {
				// No body (HEAD, 204, 304): the exchange is complete.
				if !cancel.unbind() {
					l.release(false)
					return nil, errCancelled
				}
				l.release(!out.ConnectionClose() && !resp.ConnectionClose())
				return nil, nil
			}
			b := acquireStreamBody()
			b.l, b.rs, b.closeReq = l, resp.BodyStream(), out.ConnectionClose()
			b.cl = resp.Header.ContentLength()
			return b, nil
		}
		reused := l.c.uses > 1
		written := l.c.written > 0
		l.release(false)
		if cancel.Cancelled() {
			return nil, errCancelled
		}
		var ce *CauseError
		if reused && !written && try < maxSilentResends && errors.As(err, &ce) && ce.Cause != CauseTimeout {
			continue
		}
		return nil, err
	}
}

// exchange writes out and reads the answer's headers.
func (l *lease) exchange(out *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error {
	if err := l.c.SetDeadline(deadline); err != nil {
		return &CauseError{Cause: CauseReset, Err: err}
	}
	bw := l.cs.hc.AcquireWriter(l.nc)
	err := out.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	l.cs.hc.ReleaseWriter(bw)
	if err != nil {
		return l.ioError(err, false)
	}
	l.br = l.cs.hc.AcquireReader(l.nc)
	if _, err := l.br.Peek(1); err != nil {
		return l.ioError(err, false)
	}
	if err := checkStatusLine(l.br); err != nil {
		return &CauseError{Cause: CauseBadAnswer, Err: err, Written: true}
	}
	if err := resp.Read(l.br); err != nil {
		return l.ioError(err, true)
	}
	return nil
}

// ioError classifies an exchange or body error at its source.
func (l *lease) ioError(err error, answered bool) error {
	if ce, ok := err.(*CauseError); ok {
		return ce // from the watch (conn.Read)
	}
	ce := &CauseError{Err: err, Written: l.c.written > 0}
	switch {
	case isTimeout(err):
		ce.Cause = CauseTimeout
	case answered:
		ce.Cause = CauseBadAnswer
	case isConnReset(err):
		ce.Cause = CauseReset
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed):
		ce.Cause = CauseClosedBeforeAnswer
	default:
		ce.Cause = CauseReset
	}
	return ce
}

// Canceler lets another goroutine cancel a request while it waits for an
// answer: Cancel closes the connection of the attempt under way, if any, and
// keeps further attempts from starting. The zero value is ready to use.
type Canceler struct {
	mu        sync.Mutex
	cancelled bool
	c         *conn
}

// Cancel stops the request. Safe to call from any goroutine, more than once.
func (k *Canceler) Cancel() {
	k.mu.Lock()
	k.cancelled = true
	if k.c != nil {
		k.c.interrupt() // the owner sees an error and closes the conn
	}
	k.mu.Unlock()
}

// Cancelled reports whether Cancel was called.
func (k *Canceler) Cancelled() bool {
	if k == nil {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cancelled
}

// bind makes c the connection Cancel closes; false when already cancelled.
func (k *Canceler) bind(c *conn) bool {
	if k == nil {
		return true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.c = c
	return !k.cancelled
}

// unbind lets go of the bound connection; false when Cancel ran meanwhile
// (the connection was interrupted and must not be pooled or relayed).
func (k *Canceler) unbind() bool {
	if k == nil {
		return true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.c = nil
	return !k.cancelled
}

// StreamBody is an answer's body, read as it arrives. Read and Release
// belong to one goroutine at a time; Abort may be called from any goroutine.
type StreamBody struct {
	l        lease
	rs       io.Reader
	cl       int  // the answer's Content-Length; -1 chunked, -2 until close
	closeReq bool // the request asked for Connection: close
	eof      bool
	n        int64 // bytes read
}

var streamBodies = sync.Pool{New: func() any { return new(StreamBody) }}

func acquireStreamBody() *StreamBody { return streamBodies.Get().(*StreamBody) }

// Read reads the next bytes of the body as they arrive. A chunked answer
// gives one chunk per read of fasthttp's body stream, so Read goes on with
// the chunks that are already in memory, whole, and stops before one it
// would have to wait for: the upstream's bytes that arrived together are
// relayed together (one client write, as nginx does), and nothing that
// arrived waits for what has not.
func (b *StreamBody) Read(p []byte) (int, error) {
	n, err := b.rs.Read(p)
	for err == nil && n > 0 && n < len(p) && b.cl == -1 && nextChunkBuffered(b.l.br) {
		m, rerr := b.rs.Read(p[n:])
		n, err = n+m, rerr
		if m == 0 {
			break
		}
	}
	b.n += int64(n)
	if err == io.EOF {
		b.eof = true
	} else if err != nil {
		err = b.l.ioError(err, false) // classified here, at the source
	}
	return n, err
}

// ContentLength is the answer's declared length, or -1 when unknown.
func (b *StreamBody) ContentLength() int {
	if b.cl < 0 {
		return -1
	}
	return b.cl
}

// Abort interrupts a Read in progress and ends the stream: the connection
// is closed, which the upstream sees at once.
func (b *StreamBody) Abort() { b.l.c.interrupt() }

// Watch makes every Read of this stream wait at most idle for data (then it
// fails with a *CauseError of CauseTimeout), and call onSilence from inside
// that Read after each period of silence; an error from onSilence ends the
// Read with it. onSilence runs on the reading goroutine.
func (b *StreamBody) Watch(idle, period time.Duration, onSilence func() error) {
	b.l.c.startWatch(idle, period, onSilence)
}

// release ends resp's body stream, then returns the connection to the pool
// when the body was read to its end and closes it otherwise; then it returns
// b to its pool. resp itself is released by the caller, after this.
func (b *StreamBody) release(resp *fasthttp.Response) {
	_ = resp.CloseBodyStream()
	b.l.release(b.eof && !b.closeReq && !resp.ConnectionClose() && b.cl != -2)
	*b = StreamBody{}
	streamBodies.Put(b)
}

// nextChunkBuffered reports whether reading the next chunk of a chunked body
// from br cannot wait on the network: br holds the chunk's size line and
// either the whole chunk with its CRLF, or part of its data (which a read
// returns as it is). It is asked only after a body read that returned less
// than asked for with bytes still buffered, which happens only at a chunk
// boundary: a read inside a chunk stops short only when the buffer is empty.
// The last chunk (size 0) is left to the next Read, like anything it cannot
// parse here.
func nextChunkBuffered(br *bufio.Reader) bool {
	buffered := br.Buffered()
	if buffered == 0 {
		return false
	}
	head, _ := br.Peek(buffered) // never fails: the bytes are buffered
	size, i := 0, 0
	for ; i < len(head); i++ {
		d := unhex(head[i])
		if d < 0 {
			break
		}
		if size = size<<4 | d; size > 1<<30 {
			return false
		}
	}
	if i == 0 || size == 0 {
		return false
	}
	eol := bytes.IndexByte(head[i:], '\n')
	if eol < 0 {
		return false
	}
	data := len(head) - (i + eol + 1) // chunk bytes buffered after the size line
	return data >= size+2 || (data > 0 && data < size)
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
