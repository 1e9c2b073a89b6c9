package upstream

import (
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// conn wraps one upstream TCP connection (or proxy tunnel), beneath TLS. It
// counts the bytes written (to tell "nothing of the request was sent" from
// a failure after it was), can be interrupted from another goroutine, and,
// while a stream is watched, keeps its reads from waiting longer than the
// stream's idle timeout and calls a hook after each period of silence.
//
// Why beneath TLS and the HTTP parser: a timeout seen by fasthttp's chunked
// body reader midway through a chunk header would leave it at an unknown
// offset, so silence is handled here, where a read can simply be retried.
type conn struct {
	net.Conn
	fd          int         // the socket's descriptor, for readable; -1 without one (the idle check is skipped)
	uses        int         // exchanges started on this connection
	written     int64       // bytes written since the current exchange started
	interrupted atomic.Bool // interrupt was called: never pooled again

	// The watch of a committed stream (all zero when unwatched). Only the
	// reading goroutine touches these.
	idle, period time.Duration
	onSilence    func() error
	lastRead     int64 // unix nanos of the last byte read
	lastTick     int64 // unix nanos of the last onSilence call (or of the watch start)
}

func newConn(raw net.Conn) *conn {
	c := &conn{Conn: raw, fd: -1}
	if sc, ok := raw.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { c.fd = int(fd) })
		}
	}
	return c
}

// Write counts what reaches the socket.
func (c *conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written += int64(n)
	return n, err
}

// interrupt closes the socket: a Read or Write in progress on any goroutine
// returns at once, and the upstream sees the connection closed.
func (c *conn) interrupt() {
	c.interrupted.Store(true)
	_ = c.Conn.Close()
}

// startWatch arms the stream watch; see StreamBody.Watch.
func (c *conn) startWatch(idle, period time.Duration, onSilence func() error) {
	now := time.Now().UnixNano()
	c.idle, c.period, c.onSilence = idle, period, onSilence
	c.lastRead, c.lastTick = now, now
	_ = c.Conn.SetReadDeadline(time.Unix(0, c.nextWake()))
}

// stopWatch disarms the watch.
func (c *conn) stopWatch() {
	c.idle, c.period, c.onSilence = 0, 0, nil
}

// nextWake is when a watched read must wake up: at the idle cut, or when
// the next period of silence is over.
func (c *conn) nextWake() int64 {
	wake := c.lastRead + int64(c.idle)
	if c.period > 0 {
		wake = min(wake, max(c.lastRead, c.lastTick)+int64(c.period))
	}
	return wake
}

// Read reads from the connection. While a stream is watched, the read
// deadline is moved lazily: a successful read only notes the time, and when
// the deadline fires the read either goes on (data came meanwhile), calls
// onSilence (a period of silence is over) or fails (the idle cut).
func (c *conn) Read(p []byte) (int, error) {
	if c.idle <= 0 {
		return c.Conn.Read(p)
	}
	for {
		n, err := c.Conn.Read(p)
		if n > 0 || err == nil {
			c.lastRead = time.Now().UnixNano()
			return n, err
		}
		if !isTimeout(err) {
			return n, err
		}
		now := time.Now().UnixNano()
		if c.readable() {
			// The deadline passed while this goroutine was elsewhere (a slow
			// client write, a busy machine): Go reports the timeout without
			// looking at the socket, but bytes (or EOF) are waiting. The
			// upstream was not silent; read them instead of cutting the stream
			// or writing a keep-alive.
			if err := c.Conn.SetReadDeadline(time.Unix(0, now+int64(c.idle))); err != nil {
				return 0, err
			}
			continue
		}
		if now-c.lastRead >= int64(c.idle) {
			return 0, &CauseError{Cause: CauseTimeout, Err: errStalled, Written: true}
		}
		if c.period > 0 && now-max(c.lastRead, c.lastTick) >= int64(c.period) {
			c.lastTick = now
			if err := c.onSilence(); err != nil {
				return 0, err
			}
		}
		if err := c.Conn.SetReadDeadline(time.Unix(0, c.nextWake())); err != nil {
			return 0, err
		}
	}
}
