package upstream

import (
	"errors"
	"net"
	"time"
)

// ConnectError marks a failure to reach the upstream at all (DNS, refused,
// dial timeout): no request byte was delivered, so another target may be tried.
type ConnectError struct{ Err error }

func (e *ConnectError) Error() string { return "connect: " + e.Err.Error() }
func (e *ConnectError) Unwrap() error { return e.Err }

// conn wraps every upstream connection so that a streamed response can drop
// the absolute read deadline fasthttp set for the headers: fasthttp keeps that
// deadline on the connection while the body streams, which would cut every
// long generation. The relay finds the conn through the Response's LocalAddr
// (see connOf), which fasthttp records right after acquiring the connection.
type conn struct {
	net.Conn
	laddr connAddr
}

// connAddr is the local address of a conn, carrying a pointer back to it.
type connAddr struct {
	net.Addr
	c *conn
}

func (c *conn) LocalAddr() net.Addr { return &c.laddr }

// clearReadDeadline lets a committed stream read for as long as it lasts;
// the stream's idle timer, not a deadline, ends a stalled one.
func (c *conn) clearReadDeadline() { _ = c.Conn.SetReadDeadline(time.Time{}) }

// connOf returns the wrapper behind a response's local address, or nil.
func connOf(laddr net.Addr) *conn {
	if a, ok := laddr.(*connAddr); ok {
		return a.c
	}
	return nil
}

// dialer returns a fasthttp dial function with a connect timeout whose
// connections are wrapped (see conn) and whose failures are ConnectErrors.
func dialer(timeout time.Duration) func(addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	return func(addr string) (net.Conn, error) {
		nc, err := d.Dial("tcp", addr)
		if err != nil {
			return nil, &ConnectError{Err: err}
		}
		c := &conn{Conn: nc}
		c.laddr = connAddr{Addr: nc.LocalAddr(), c: c}
		return c, nil
	}
}

var errNoAnswer = errors.New("no answer")
