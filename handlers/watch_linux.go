//go:build linux

package handlers

import (
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/llm-proxy/llm-proxy/upstream"
)

// clientWatch notices a client that closes its connection while the handler
// is still waiting for the upstream, and cancels the upstream request.
// fasthttp gives a handler no such signal, so after a delay (fast answers
// never pay for more than a timer reset) the watcher waits in the netpoller
// for the socket to become readable and then peeks at it with MSG_PEEK: an
// orderly close or a reset means the client left; pending bytes (a
// pipelined request) are left untouched for the server. Watches are pooled:
// the request path allocates nothing.
type clientWatch struct {
	timer    *time.Timer
	ctx      *fasthttp.RequestCtx
	cancel   *upstream.Canceler
	stopping atomic.Bool
	done     chan struct{} // a token when run has let go of the connection
}

var clientWatches = sync.Pool{New: func() any {
	w := &clientWatch{done: make(chan struct{}, 1)}
	w.timer = time.AfterFunc(time.Hour, w.run)
	w.timer.Stop()
	return w
}}

// watchClient starts watching ctx's client after delay; stop the watch
// before the handler returns.
func watchClient(ctx *fasthttp.RequestCtx, delay time.Duration, cancel *upstream.Canceler) *clientWatch {
	w := clientWatches.Get().(*clientWatch)
	w.ctx, w.cancel = ctx, cancel
	w.stopping.Store(false)
	w.timer.Reset(delay)
	return w
}

// stop ends the watch and returns once the watcher has let go of the connection.
func (w *clientWatch) stop() {
	if !w.timer.Stop() {
		w.stopping.Store(true)
		// Wake the watcher; fasthttp arms the read deadline again before it
		// reads the next request on this connection.
		_ = w.ctx.SetReadDeadline(time.Now())
		<-w.done
	}
	w.ctx, w.cancel = nil, nil
	clientWatches.Put(w)
}

func (w *clientWatch) run() {
	defer func() { w.done <- struct{}{} }()
	sc, ok := w.ctx.Conn().(syscall.Conn)
	if !ok {
		return // e.g. an in-memory test listener
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	var b [1]byte
	_ = rc.Read(func(fd uintptr) bool {
		if w.stopping.Load() {
			return true
		}
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EINTR:
			return false // nothing yet: wait for the socket to become readable
		case err != nil || n == 0:
			w.cancel.Cancel() // reset, or EOF: the client closed its side
		}
		return true
	})
}
