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

// lingerListener wraps accepted TCP connections in lingerConn.
type lingerListener struct{ net.Listener }

// Accept returns the next connection, wrapped when it is TCP.
func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		return &lingerConn{TCPConn: tc}, nil
	}
	return c, nil
}

// lingerConn is a TCP connection whose Close lingers (see above) without
// blocking the caller.
type lingerConn struct {
	*net.TCPConn
	once sync.Once
}

// Close half-closes the connection and finishes closing it in the background
// once the client has stopped sending, or after lingerTimeout.
func (c *lingerConn) Close() error {
	var err error
	c.once.Do(func() {
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
