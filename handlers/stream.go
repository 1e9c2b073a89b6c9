package handlers

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/translate"
	"github.com/llm-proxy/llm-proxy/upstream"
)

// relayBufSize is the read size for relaying a stream: one upstream chunk is
// usually far smaller, and Read returns as soon as any bytes arrive. Each
// open stream holds one, so it is kept small (a big event takes a few reads).
const relayBufSize = 8 << 10

var relayBufs = sync.Pool{New: func() any { b := make([]byte, relayBufSize); return &b }}

var errClientGone = errors.New("client went away")

// streamRelay relays a committed upstream answer — an SSE stream, or a plain
// answer too large to hold — to the client. It is the response's body
// stream: fasthttp calls WriteTo on the client connection's own goroutine
// while it writes the answer, and each Write there is one chunk, flushed.
// So one goroutine reads upstream and writes the client: no pipe, no extra
// goroutine, no timer, no lock. (fasthttp's SetBodyStreamWriter would add a
// goroutine and an in-memory pipe per stream.)
//
// The upstream connection's watch (StreamBody.Watch) bounds upstream
// silence and calls silence, on this goroutine, after each keep-alive
// interval; silence writes a keep-alive only between events, and never
// while a client write is under way (there is only one goroutine). Every
// client write has a deadline (CLIENT_WRITE_TIMEOUT), so a client that stops
// reading cannot hold the stream, its upstream connection and its pool slot.
type streamRelay struct {
	res    *upstream.Result
	red    *upstream.Redactor // removes the upstream key from every chunk
	ev     *stats.Event
	family stats.Family
	sse    bool
	// tr translates the upstream's SSE stream for the client (nil: relayed
	// as it came); the scanner then reads the translated stream.
	tr           translate.Stream
	out          []byte // tr's output buffer, reused per chunk
	keepAlive    time.Duration
	idle         time.Duration
	writeTimeout time.Duration
	record       func(*stats.Event)
	streams      prometheus.Gauge
	logger       *slog.Logger
	// ctx sets the client write deadline. It is valid while fasthttp writes
	// this answer, which is when WriteTo and Close run; fasthttp clears the
	// deadline after the answer.
	ctx *fasthttp.RequestCtx

	w          io.Writer // the client, during WriteTo
	scan       upstream.Scanner
	tail       []byte // the last tailSize bytes of a plain answer, for its usage report
	deadlineAt int64  // unix nanos of the client write deadline set last
	gone       bool   // a client write failed
	slow       bool   // … because of the write deadline: the client stopped reading
	finished   bool
}

// SupportsBodyWriteTo tells fasthttp to call WriteTo instead of Read.
func (s *streamRelay) SupportsBodyWriteTo() bool { return true }

// Read is never called (see SupportsBodyWriteTo); it exists because a body
// stream is an io.Reader.
func (s *streamRelay) Read([]byte) (int, error) {
	return 0, errors.New("streamRelay: Read is not supported; fasthttp calls WriteTo")
}

// Close ends the relay if WriteTo never ran (fasthttp could not write the
// answer's head): the client is gone.
func (s *streamRelay) Close() error {
	if !s.finished {
		s.gone = true
		s.finish(nil)
	}
	return nil
}

// WriteTo relays the answer to w. A nil error ends the client's answer
// normally (an SSE stream that broke has got an error event by then); an
// error makes fasthttp close the client connection, which is how a plain
// answer that broke midway shows as incomplete.
func (s *streamRelay) WriteTo(w io.Writer) (written int64, err error) {
	s.w = w
	var readErr error
	defer func() {
		if r := recover(); r != nil {
			s.logger.Error("stream relay panic", "panic", r, "route", s.ev.Route)
			readErr = errors.New("internal error")
			err = readErr
		}
		if ferr := s.finish(readErr); err == nil {
			err = ferr
		}
	}()
	body := s.res.Body
	if s.tr != nil {
		if err := s.relayTranslated(s.red.Redact(s.res.Prefix)); err != nil {
			return 0, err
		}
	} else if err := s.write(s.red.Redact(s.res.Prefix)); err != nil {
		return 0, err
	}
	written = int64(len(s.res.Prefix))
	s.ev.TTFBMs = ms(time.Since(s.ev.Time))
	if s.tr != nil {
		body.Watch(s.idle, s.keepAlive, s.silence)
	} else if s.sse {
		s.scan.Feed(s.res.Prefix)
		body.Watch(s.idle, s.keepAlive, s.silence)
	} else {
		s.keepTail(s.res.Prefix)
	}
	bp := relayBufs.Get().(*[]byte)
	defer relayBufs.Put(bp)
	buf := *bp
	for {
		n, rerr := body.Read(buf)
		if n > 0 && s.tr != nil {
			if werr := s.relayTranslated(s.red.Redact(buf[:n])); werr != nil {
				return written, werr
			}
			written += int64(n)
		} else if n > 0 {
			if werr := s.write(s.red.Redact(buf[:n])); werr != nil {
				return written, werr
			}
			written += int64(n)
			if s.sse {
				s.scan.Feed(buf[:n])
			} else {
				s.keepTail(buf[:n])
			}
		}
		if rerr != nil {
			readErr = rerr
			return written, nil
		}
	}
}

// relayTranslated feeds upstream bytes through the translator and writes
// what it gives (one flushed chunk); the scanner reads the translated
// stream, so the terminal marker and usage are the client's.
func (s *streamRelay) relayTranslated(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	s.out = s.tr.Feed(s.out[:0], b)
	s.scan.Feed(s.out)
	return s.write(s.out)
}

// endTranslated writes the translated stream's end: End at the upstream's
// EOF, else Fail with msg (the client's in-band error event).
func (s *streamRelay) endTranslated(eof bool, msg string) error {
	if eof {
		s.out = s.tr.End(s.out[:0])
	} else {
		s.out = s.tr.Fail(s.out[:0], msg)
	}
	s.scan.Feed(s.out)
	if err := s.write(s.out); err != nil {
		s.ev.Status, s.ev.Outcome = 499, stats.OutcomeClientGone
		return err
	}
	return nil
}

// tailSize is how much of the end of a plain answer is kept: enough for a
// usage object with its details.
const tailSize = 1 << 10

// keepTail keeps the last tailSize bytes relayed.
func (s *streamRelay) keepTail(b []byte) {
	if len(b) >= tailSize {
		s.tail = append(s.tail[:0], b[len(b)-tailSize:]...)
		return
	}
	if drop := len(s.tail) + len(b) - tailSize; drop > 0 {
		s.tail = s.tail[:copy(s.tail, s.tail[drop:])]
	}
	s.tail = append(s.tail, b...)
}

// write sends b to the client (one flushed chunk) within the write deadline.
func (s *streamRelay) write(b []byte) error {
	if s.gone {
		return errClientGone
	}
	if len(b) == 0 {
		return nil
	}
	s.pushDeadline()
	if _, err := s.w.Write(b); err != nil {
		s.gone = true
		var ne net.Error
		s.slow = errors.As(err, &ne) && ne.Timeout()
		return err
	}
	return nil
}

// pushDeadline moves the client write deadline to writeTimeout from now.
// It is moved lazily — only when less than 15/16 of writeTimeout is left —
// so a busy stream does not pay for a deadline update on every chunk.
func (s *streamRelay) pushDeadline() {
	now := time.Now().UnixNano()
	if s.deadlineAt-now > int64(s.writeTimeout)/16*15 {
		return
	}
	s.deadlineAt = now + int64(s.writeTimeout)
	_ = s.ctx.SetWriteDeadline(time.Unix(0, s.deadlineAt))
}

// silence runs inside the upstream read after each keep-alive interval of
// upstream silence: it sends a keep-alive (which also finds out whether the
// client is still there) when the client is between two events, and
// nothing in the middle of one. An error ends the upstream read.
func (s *streamRelay) silence() error {
	if !s.scan.AtEventBoundary() {
		return nil
	}
	if err := s.write(keepAliveEvent(s.family)); err != nil {
		return errClientGone
	}
	return nil
}

// finish ends the relay once: an error event when an SSE stream broke or
// stalled, then the upstream connection is settled and the record made.
// It returns the error that ends the client's answer, if any.
func (s *streamRelay) finish(readErr error) (err error) {
	if s.finished {
		return nil
	}
	s.finished = true
	if s.tr != nil {
		_ = s.relayTranslated(s.red.Flush())
	} else {
		_ = s.write(s.red.Flush()) // what the redactor held back; a failure marks the client gone
	}
	eof := readErr == nil || errors.Is(readErr, io.EOF)
	if s.tr != nil && eof && !s.gone {
		_ = s.endTranslated(true, "")
	}
	ev := s.ev
	ev.Status = s.res.Resp.StatusCode()
	ev.Terminal = s.scan.Terminal
	ev.InputTokens, ev.OutputTokens = s.scan.Usage.Input, s.scan.Usage.Output
	cause := upstream.CauseOf(readErr)
	switch {
	case s.gone:
		ev.Status, ev.Outcome, ev.Error = 499, stats.OutcomeClientGone, "client went away mid-stream"
		if s.slow {
			ev.Error = "client stopped reading: a write waited " + s.writeTimeout.String() + " (CLIENT_WRITE_TIMEOUT)"
		}
		err = errClientGone
	case readErr == nil || errors.Is(readErr, io.EOF):
		ev.Outcome = stats.OutcomeOK
		if !s.sse {
			u := upstream.UsageFromTail(s.tail)
			ev.InputTokens, ev.OutputTokens = u.Input, u.Output
		}
	case cause == upstream.CauseTimeout && s.sse:
		ev.Outcome = stats.OutcomeStreamBroken
		ev.Error = "upstream stalled: no data for " + strconv.Itoa(int(s.idle.Seconds())) + "s"
		err = s.sendErrorEvent("upstream stream stalled and was cut by the proxy")
	default:
		ev.Outcome = stats.OutcomeStreamBroken
		ev.Error = "upstream stream broke: " + readErr.Error()
		if s.sse {
			err = s.sendErrorEvent("upstream connection broke mid-stream; the answer is incomplete")
		} else {
			err = readErr // the client sees the answer cut short
		}
	}
	s.res.Release()
	ev.LatencyMs = ms(time.Since(ev.Time))
	s.streams.Dec()
	s.record(ev)
	return err
}

func (s *streamRelay) sendErrorEvent(msg string) error {
	if s.tr != nil {
		return s.endTranslated(false, msg)
	}
	if err := s.write(streamErrorEvent(s.family, msg)); err != nil {
		s.ev.Status, s.ev.Outcome = 499, stats.OutcomeClientGone
		return err
	}
	return nil
}
