package handlers

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/upstream"
)

// relayBufSize is the read size for relaying a stream: one upstream chunk is
// usually far smaller, and Read returns as soon as any bytes arrive. Each
// open stream holds one, so it is kept small (a big event takes a few reads).
const relayBufSize = 8 << 10

var relayBufs = sync.Pool{New: func() any { b := make([]byte, relayBufSize); return &b }}

var (
	errClientGone = errors.New("client went away")
	errStreamDone = errors.New("stream already finished")
)

// streamWriter relays a committed upstream stream to the client. run is the
// only goroutine that reads upstream and writes to the client, apart from a
// timer that sends keep-alives during silence and cuts a stalled stream;
// the two share the client writer under mu.
type streamWriter struct {
	res       *upstream.Result
	red       *upstream.Redactor // removes the upstream key from every chunk
	ev        *stats.Event
	family    stats.Family
	keepAlive time.Duration
	idle      time.Duration
	record    func(*stats.Event)
	streams   prometheus.Gauge
	logger    *slog.Logger

	body     *upstream.StreamBody
	w        *bufio.Writer
	mu       sync.Mutex // guards w and done
	done     bool       // run has finished writing: the timer must not touch w
	lastRead atomic.Int64
	lastSent atomic.Int64
	stalled  atomic.Bool
	gone     atomic.Bool
	timer    *time.Timer
}

// run is the fasthttp body stream writer. It never touches the Fiber ctx.
func (s *streamWriter) run(w *bufio.Writer) {
	s.w = w
	var scan upstream.Scanner
	var readErr error
	defer func() {
		if r := recover(); r != nil {
			s.logger.Error("stream relay panic", "panic", r, "route", s.ev.Route)
			readErr = errors.New("internal error")
		}
		s.finish(&scan, readErr)
	}()
	s.body = s.res.Body

	now := time.Now().UnixNano()
	s.lastRead.Store(now)
	if err := s.write(s.red.Redact(s.res.Prefix)); err != nil {
		s.clientLeft()
		return
	}
	s.ev.TTFBMs = ms(time.Since(s.ev.Time))
	scan.Feed(s.res.Prefix)
	if s.body == nil {
		readErr = io.EOF
		return
	}
	s.mu.Lock() // tick reads s.timer; the lock orders this write before it
	s.timer = time.AfterFunc(min(s.keepAlive, s.idle), s.tick)
	s.mu.Unlock()

	bp := relayBufs.Get().(*[]byte)
	defer relayBufs.Put(bp)
	buf := *bp
	for {
		n, err := s.body.Read(buf)
		if n > 0 {
			s.lastRead.Store(time.Now().UnixNano())
			if werr := s.write(s.red.Redact(buf[:n])); werr != nil {
				s.clientLeft()
				return
			}
			scan.Feed(buf[:n])
		}
		if err != nil {
			readErr = err
			return
		}
	}
}

// write sends b to the client and flushes it. Both run and the timer use it.
func (s *streamWriter) write(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return errStreamDone
	}
	if s.gone.Load() {
		return errClientGone
	}
	if len(b) > 0 {
		if _, err := s.w.Write(b); err != nil {
			return err
		}
	}
	if err := s.w.Flush(); err != nil {
		return err
	}
	s.lastSent.Store(time.Now().UnixNano())
	return nil
}

// clientLeft cancels the upstream request: closing the body stream closes
// its connection, which the upstream sees at once.
func (s *streamWriter) clientLeft() {
	s.gone.Store(true)
	if s.body != nil {
		s.body.Abort()
	}
}

// tick runs on the timer during silence: it cuts a stalled stream, or sends
// a keep-alive (which also finds out whether the client is still there).
func (s *streamWriter) tick() {
	now := time.Now()
	sinceRead := now.Sub(time.Unix(0, s.lastRead.Load()))
	if sinceRead >= s.idle {
		s.stalled.Store(true)
		s.body.Abort()
		return
	}
	sinceSent := now.Sub(time.Unix(0, s.lastSent.Load()))
	if sinceSent >= s.keepAlive {
		switch err := s.write(keepAliveEvent(s.family)); {
		case errors.Is(err, errStreamDone):
			return
		case err != nil:
			s.clientLeft()
			return
		}
		sinceSent = 0
	}
	s.mu.Lock()
	s.timer.Reset(min(s.keepAlive-sinceSent, s.idle-sinceRead))
	s.mu.Unlock()
}

// finish ends the stream: an error event when the upstream broke or stalled,
// then the record. It runs once, on run's goroutine.
func (s *streamWriter) finish(scan *upstream.Scanner, readErr error) {
	s.mu.Lock()
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	if !s.gone.Load() && s.write(s.red.Flush()) != nil { // what the redactor held back
		s.gone.Store(true)
	}
	ev := s.ev
	ev.Status = s.res.Resp.StatusCode()
	ev.Terminal = scan.Terminal
	ev.InputTokens, ev.OutputTokens = scan.Usage.Input, scan.Usage.Output
	switch {
	case s.gone.Load():
		ev.Status, ev.Outcome, ev.Error = 499, stats.OutcomeClientGone, "client went away mid-stream"
	case s.stalled.Load():
		ev.Outcome = stats.OutcomeStreamBroken
		ev.Error = "upstream stalled: no data for " + strconv.Itoa(int(s.idle.Seconds())) + "s"
		s.sendErrorEvent("upstream stream stalled and was cut by the proxy")
	case readErr == nil || errors.Is(readErr, io.EOF):
		ev.Outcome = stats.OutcomeOK
	default:
		ev.Outcome = stats.OutcomeStreamBroken
		ev.Error = "upstream stream broke: " + readErr.Error()
		s.sendErrorEvent("upstream connection broke mid-stream; the answer is incomplete")
	}
	s.mu.Lock()
	s.done = true
	s.mu.Unlock()
	s.res.Release()
	ev.LatencyMs = ms(time.Since(ev.Time))
	s.streams.Dec()
	s.record(ev)
}

func (s *streamWriter) sendErrorEvent(msg string) {
	if err := s.write(streamErrorEvent(s.family, msg)); err != nil {
		s.gone.Store(true)
	}
}
