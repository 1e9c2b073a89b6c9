//go:build linux

package handlers

import (
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// watchClient calls gone if the client closes its connection while the
// handler is still waiting for the upstream. fasthttp gives a handler no such
// signal, so after delay (fast answers never pay for it) a goroutine waits
// in the netpoller for the socket to become readable and then peeks at it
// with MSG_PEEK: an orderly close or a reset means the client left; pending
// bytes (a pipelined request) are left untouched for the server. stop ends
// the watch and returns once the watcher has let go of the connection.
func watchClient(ctx *fasthttp.RequestCtx, delay time.Duration, gone func()) (stop func()) {
	sc, ok := ctx.Conn().(syscall.Conn)
	if !ok {
		return func() {} // e.g. an in-memory test listener
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return func() {}
	}
	var stopping atomic.Bool
	done := make(chan struct{})
	timer := time.AfterFunc(delay, func() {
		defer close(done)
		var b [1]byte
		_ = rc.Read(func(fd uintptr) bool {
			if stopping.Load() {
				return true
			}
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			switch {
			case err == syscall.EAGAIN || err == syscall.EINTR:
				return false // nothing yet: wait for the socket to become readable
			case err != nil || n == 0:
				gone() // reset, or EOF: the client closed its side
			}
			return true
		})
	})
	return func() {
		if timer.Stop() {
			return // never started
		}
		stopping.Store(true)
		// Wake the watcher; fasthttp arms the read deadline again before it
		// reads the next request on this connection.
		_ = ctx.SetReadDeadline(time.Now())
		<-done
	}
}
