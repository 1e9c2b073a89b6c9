package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Why a pool of our own: fasthttp's HostClient never tells which connection
// a request is using. A relay needs exactly that, twice: to cut a stalled
// stream or cancel a request whose client left (close that connection), and
// to drop the headers' read deadline once a stream is committed. So each
// target keeps its own small keep-alive pool, and requests and responses are
// still written and parsed by fasthttp (Request.Write, Response.Read).

// ErrNoFreeConns is returned when a target's pool is full and no connection
// came free within the connect timeout.
var ErrNoFreeConns = errors.New("no free upstream connection")

// errStaleConn marks a reused connection the upstream had already closed:
// nothing was answered, so the request is sent again on a fresh one.
var errStaleConn = errors.New("stale pooled connection")

// connections is one target's connections.
type connections struct {
	addr        string
	tlsConfig   *tls.Config // nil: plain HTTP
	dialTimeout time.Duration
	maxIdleTime time.Duration
	slots       chan struct{} // one token per open connection, capacity MaxConns

	mu     sync.Mutex
	idle   []*conn // most recently used last
	closed bool

	opened atomic.Int64
}

// conn is one upstream connection with its buffers.
type conn struct {
	nc       net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	p        *connections
	lastUsed time.Time
	released atomic.Bool
}

func newConnections(addr string, tlsConfig *tls.Config, o ClientOptions) *connections {
	maxConns := o.MaxConns
	if maxConns <= 0 {
		maxConns = 16384
	}
	return &connections{
		addr:        addr,
		tlsConfig:   tlsConfig,
		dialTimeout: o.ConnectTimeout,
		maxIdleTime: 20 * time.Second, // below common upstream keep-alive limits, so a pooled conn is rarely stale
		slots:       make(chan struct{}, maxConns),
	}
}

// get returns an idle connection (reused true) or dials a new one. It waits
// up to the connect timeout for a free slot when the pool is full.
func (p *connections) get() (pc *conn, reused bool, err error) {
	now := time.Now()
	p.mu.Lock()
	for len(p.idle) > 0 {
		pc = p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if now.Sub(pc.lastUsed) < p.maxIdleTime {
			p.mu.Unlock()
			pc.released.Store(false)
			return pc, true, nil
		}
		p.closeLocked(pc)
	}
	p.mu.Unlock()

	select {
	case p.slots <- struct{}{}:
	default:
		t := time.NewTimer(p.dialTimeout)
		select {
		case p.slots <- struct{}{}:
			t.Stop()
		case <-t.C:
			return nil, false, &ConnectError{Err: ErrNoFreeConns}
		}
	}
	nc, err := p.dial()
	if err != nil {
		<-p.slots
		return nil, false, &ConnectError{Err: err}
	}
	p.opened.Add(1)
	return &conn{nc: nc, br: bufio.NewReaderSize(nc, 16<<10), bw: bufio.NewWriterSize(nc, 4<<10), p: p}, false, nil
}

func (p *connections) dial() (net.Conn, error) {
	d := net.Dialer{Timeout: p.dialTimeout, KeepAlive: 30 * time.Second}
	if p.tlsConfig == nil {
		return d.Dial("tcp", p.addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.dialTimeout)
	defer cancel()
	td := tls.Dialer{NetDialer: &d, Config: p.tlsConfig}
	return td.DialContext(ctx, "tcp", p.addr)
}

// put returns a connection whose exchange completed cleanly to the pool.
func (p *connections) put(pc *conn) {
	if !pc.released.CompareAndSwap(false, true) {
		return
	}
	_ = pc.nc.SetDeadline(time.Time{})
	pc.lastUsed = time.Now()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		pc.nc.Close()
		<-p.slots
		return
	}
	p.idle = append(p.idle, pc)
	p.mu.Unlock()
}

// discard closes a connection that must not be reused and frees its slot.
// Only the goroutine that owns the exchange calls it; other goroutines
// interrupt with pc.nc.Close().
func (p *connections) discard(pc *conn) {
	if !pc.released.CompareAndSwap(false, true) {
		return
	}
	pc.nc.Close()
	<-p.slots
}

func (p *connections) closeLocked(pc *conn) {
	pc.nc.Close()
	<-p.slots
}

// closeIdle closes idle connections; with final, the pool also stops pooling.
func (p *connections) closeIdle(final bool) {
	p.mu.Lock()
	for _, pc := range p.idle {
		p.closeLocked(pc)
	}
	p.idle = nil
	if final {
		p.closed = true
	}
	p.mu.Unlock()
}

// pruneIdle closes connections idle for longer than maxIdleTime.
func (p *connections) pruneIdle(now time.Time) {
	p.mu.Lock()
	keep := p.idle[:0]
	for _, pc := range p.idle {
		if now.Sub(pc.lastUsed) < p.maxIdleTime {
			keep = append(keep, pc)
		} else {
			p.closeLocked(pc)
		}
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	p.mu.Unlock()
}

// Canceler lets another goroutine cancel a request while it waits for an
// answer: Cancel closes the connection of the attempt under way, if any, and
// keeps further attempts from starting. The zero value is ready to use.
type Canceler struct {
	mu        sync.Mutex
	cancelled bool
	pc        *conn
}

// Cancel stops the request. Safe to call from any goroutine, more than once.
func (c *Canceler) Cancel() {
	c.mu.Lock()
	c.cancelled = true
	if c.pc != nil {
		c.pc.nc.Close() // the owner sees a read error and discards the conn
	}
	c.mu.Unlock()
}

// Cancelled reports whether Cancel was called.
func (c *Canceler) Cancelled() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cancelled
}

// bind makes pc the connection Cancel closes; false when already cancelled.
func (c *Canceler) bind(pc *conn) bool {
	if c == nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pc = pc
	return !c.cancelled
}

// roundTrip sends out on a pooled connection and reads the answer's headers
// (and, unless resp.StreamBody, its body) by deadline. On success with a
// streamed body the connection stays with the caller (see StreamBody);
// otherwise it is back in the pool or closed. A reused connection the
// upstream had closed is replaced once by a fresh one.
func (p *connections) roundTrip(out *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, maxBody int, cancel *Canceler) (*conn, error) {
	for try := 0; ; try++ {
		pc, reused, err := p.get()
		if err != nil {
			return nil, err
		}
		if !cancel.bind(pc) {
			p.discard(pc)
			return nil, errCancelled
		}
		err = p.exchange(pc, out, resp, deadline, maxBody)
		cancel.bind(nil)
		if err == nil {
			if !resp.StreamBody || !resp.IsBodyStream() {
				p.finishBuffered(pc, out, resp)
				return nil, nil
			}
			return pc, nil
		}
		p.discard(pc)
		if cancel.Cancelled() {
			return nil, errCancelled
		}
		if errors.Is(err, errStaleConn) && reused && try == 0 {
			continue
		}
		return nil, err
	}
}

var errCancelled = errors.New("request cancelled: the client went away")

func (p *connections) exchange(pc *conn, out *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, maxBody int) error {
	if err := pc.nc.SetDeadline(deadline); err != nil {
		return err
	}
	if err := out.Write(pc.bw); err != nil {
		return staleOr(err)
	}
	if err := pc.bw.Flush(); err != nil {
		return staleOr(err)
	}
	// Nothing read yet: an immediate EOF means the upstream had closed this idle connection.
	if _, err := pc.br.Peek(1); err != nil {
		return staleOr(err)
	}
	return resp.ReadLimitBody(pc.br, maxBody)
}

// staleOr marks errors that show a connection was dead before any answer.
func staleOr(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isConnReset(err) {
		return errors.Join(errStaleConn, err)
	}
	return err
}

// finishBuffered pools the connection after a complete buffered exchange.
func (p *connections) finishBuffered(pc *conn, out *fasthttp.Request, resp *fasthttp.Response) {
	if out.ConnectionClose() || resp.ConnectionClose() {
		p.discard(pc)
		return
	}
	p.put(pc)
}

// StreamBody is a committed stream's body. Read belongs to the relaying
// goroutine (Result.Release settles the connection); Abort may be called from
// any goroutine.
type StreamBody struct {
	rs      io.Reader
	pc      *conn
	out     bool // the request asked for Connection: close
	eof     bool
	aborted atomic.Bool
}

// Read reads the next bytes of the stream as they arrive.
func (b *StreamBody) Read(p []byte) (int, error) {
	n, err := b.rs.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

// Abort interrupts a Read in progress and ends the stream: the connection
// is closed, which the upstream sees at once.
func (b *StreamBody) Abort() {
	b.aborted.Store(true)
	b.pc.nc.Close()
}

// release ends resp's body stream, then returns the connection to the pool
// when the body was read to its end and closes it otherwise. resp itself is
// released by the caller, after this.
func (b *StreamBody) release(resp *fasthttp.Response) {
	_ = resp.CloseBodyStream()
	if b.eof && !b.aborted.Load() && !b.out && !resp.ConnectionClose() {
		b.pc.p.put(b.pc)
		return
	}
	b.pc.p.discard(b.pc)
}
