// Package logging is the proxy's log output: slog's text or JSON handler
// writing through a batching Writer, with a fast path for the one line per
// proxied request. Lines are byte for byte what slog writes; only when they
// reach the output changes (at most FlushDelay later; errors at once).
package logging

import (
	"io"
	"sync"
	"time"
)

const (
	// FlushDelay is the longest a log line waits in the Writer's buffer.
	FlushDelay = 50 * time.Millisecond
	// flushSize is the buffered size at which a Write flushes itself, so a
	// slow output slows the writers instead of growing the buffer.
	flushSize = 256 << 10
)

// Writer batches writes: Write copies p into a buffer and returns; a
// goroutine writes the buffer out FlushDelay after the first line of a
// batch arrived, so a busy proxy makes one write system call per batch
// instead of one per line, and none on the request path. Batches keep their
// order. An idle Writer has no timer running. Close (or Flush) before the
// process exits, or the last FlushDelay of lines is lost.
//
// Hand-written: the pieces (a mutex, a buffer, a timer) are small, and the
// log libraries that batch (zap's BufferedWriteSyncer) would bring a second
// logging stack beside slog.
type Writer struct {
	out io.Writer

	mu     sync.Mutex
	buf    []byte // lines waiting
	spare  []byte // the previous batch's buffer, reused
	closed bool

	wmu  sync.Mutex // held while writing to out: batches leave in order
	kick chan struct{}
	stop chan struct{}
	done chan struct{}

	closeOnce sync.Once
}

// NewWriter starts a Writer in front of out.
func NewWriter(out io.Writer) *Writer {
	w := &Writer{
		out:  out,
		kick: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go w.run()
	return w
}

// Write queues a copy of p. It writes through at once after Close, and
// flushes itself when the buffer has grown to 256 KiB.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.wmu.Lock()
		defer w.wmu.Unlock()
		if err := w.flushLocked(); err != nil {
			return 0, err
		}
		return w.out.Write(p)
	}
	first := len(w.buf) == 0
	w.buf = append(w.buf, p...)
	full := len(w.buf) >= flushSize
	w.mu.Unlock()
	if full {
		return len(p), w.Flush()
	}
	if first {
		select {
		case w.kick <- struct{}{}:
		default: // a kick is already waiting
		}
	}
	return len(p), nil
}

// Flush writes everything queued before it returns.
func (w *Writer) Flush() error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return w.flushLocked()
}

// flushLocked writes the buffer; w.wmu is held.
func (w *Writer) flushLocked() error {
	w.mu.Lock()
	b := w.buf
	w.buf, w.spare = w.spare[:0], nil
	w.mu.Unlock()
	var err error
	if len(b) > 0 {
		_, err = w.out.Write(b)
	}
	if cap(b) <= 2*flushSize { // keep a normal buffer, not a burst's
		w.mu.Lock()
		w.spare = b[:0]
		w.mu.Unlock()
	}
	return err
}

// Close writes what is queued and stops the goroutine; later writes go
// straight through. It is safe to call more than once.
func (w *Writer) Close() error {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.stop)
		<-w.done
	})
	return w.Flush()
}

// run is the flushing goroutine: after a kick, wait FlushDelay, then write.
func (w *Writer) run() {
	defer close(w.done)
	t := time.NewTimer(FlushDelay)
	t.Stop()
	for {
		select {
		case <-w.kick:
		case <-w.stop:
			return
		}
		t.Reset(FlushDelay)
		select {
		case <-t.C:
		case <-w.stop:
			t.Stop()
			return
		}
		_ = w.Flush() // an error writing to stderr has nowhere to go
	}
}
