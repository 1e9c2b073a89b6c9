package app

import (
	"io"
	"net"
	"sync"
	"time"
)

// Lingering close. When the server answers before it has read the whole
// request — 413 for a body over BODY_LIMIT — and closes the connection, the
// request bytes still unread make the kernel send a TCP reset, and a reset
// can destroy the answer before the client reads it: the client sees
// "connection reset" instead of the 413. So closing first half-closes the
// connection (our answer and a FIN go out), then drains what the client is
// still sending for a short while, then closes. net/http does the same
// (closeWriteAndWait).
const (
	lingerTimeout = time.Second
	lingerMaxRead = 64 << 20
)

// lingerListener wraps accepted TCP connections in lingerConn, and refuses
// (closes at once) a connection whose peer is at its perIP limit.
type lingerListener struct {
	net.Listener
	perIP *perIPLimit // nil: no limit
}

// Accept returns the next connection, wrapped when it is TCP.
func (l lingerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc, ok := c.(*net.TCPConn)
		if !ok {
			return c, nil
		}
		release, ok := l.perIP.acquire(c)
		if !ok {
			_ = tc.SetLinger(0) // refused: no answer, no lingering
			_ = tc.Close()
			continue
		}
		return &lingerConn{TCPConn: tc, release: release}, nil
	}
}

// lingerConn is a TCP connection whose Close lingers (see above) without
// blocking the caller.
type lingerConn struct {
	*net.TCPConn
	once    sync.Once
	release func() // frees the connection's place in the per-address count
}

// Close half-closes the connection and finishes closing it in the background
// once the client has stopped sending, or after lingerTimeout.
func (c *lingerConn) Close() error {
	var err error
	c.once.Do(func() {
		c.release()
		if c.TCPConn.CloseWrite() != nil {
			err = c.TCPConn.Close()
			return
		}
		go func() {
			_ = c.TCPConn.SetReadDeadline(time.Now().Add(lingerTimeout))
			_, _ = io.CopyN(io.Discard, c.TCPConn, lingerMaxRead)
			_ = c.TCPConn.Close()
		}()
	})
	return err
}
