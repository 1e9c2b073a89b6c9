package logging

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/llm-proxy/llm-proxy/stats"
)

// RequestMessage is the message of the per-request log line.
const RequestMessage = "request"

// RequestAttrs are the per-request line's attributes, in order.
func RequestAttrs(ev *stats.Event) []slog.Attr {
	return []slog.Attr{
		slog.String("method", ev.Method),
		slog.String("route", ev.Route),
		slog.String("model", ev.Model),
		slog.Bool("stream", ev.Stream),
		slog.Int("status", ev.Status),
		slog.String("outcome", string(ev.Outcome)),
		slog.String("target", ev.Target),
		slog.Int("attempts", len(ev.Attempts)),
		slog.Int("rate_limits", ev.RateLimits),
		slog.Float64("latency_ms", ev.LatencyMs),
		slog.Float64("ttfb_ms", ev.TTFBMs),
		slog.Int("input_tokens", ev.InputTokens),
		slog.Int("output_tokens", ev.OutputTokens),
		slog.String("error", ev.Error),
	}
}

// LogRequest writes the per-request line for ev at level, if l logs that
// level: message "request" with RequestAttrs. Through a *Handler in text
// format the line is formatted directly into a pooled buffer (the same bytes
// slog's text handler writes, without building a 14-attribute record); any
// other handler gets an ordinary slog call.
func LogRequest(l *slog.Logger, level slog.Level, ev *stats.Event) {
	ctx := context.Background()
	if !l.Enabled(ctx, level) {
		return
	}
	h, ok := l.Handler().(*Handler)
	if !ok || h.json || h.derived {
		l.LogAttrs(ctx, level, RequestMessage, RequestAttrs(ev)...)
		return
	}
	bp := lineBufs.Get().(*[]byte)
	b := appendRequestText((*bp)[:0], time.Now(), level, ev)
	_, _ = h.w.Write(b) // the Writer copies b
	if level >= slog.LevelError {
		_ = h.w.Flush()
	}
	if cap(b) <= maxPooledLine {
		*bp = b
		lineBufs.Put(bp)
	}
}

// maxPooledLine: a line buffer grown beyond this (a huge error text) is not pooled.
const maxPooledLine = 4 << 10

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// appendRequestText appends the line slog's text handler writes for a
// record at t and level with message "request" and RequestAttrs(ev).
// request_test.go checks it against slog.
func appendRequestText(b []byte, t time.Time, level slog.Level, ev *stats.Event) []byte {
	b = append(b, "time="...)
	b = stats.AppendRFC3339(b, t, true) // slog's time format: three fraction digits
	b = append(b, " level="...)
	b = appendTextString(b, level.String())
	b = append(b, " msg="...)
	b = append(b, RequestMessage...)
	b = append(b, " method="...)
	b = appendTextString(b, ev.Method)
	b = append(b, " route="...)
	b = appendTextString(b, ev.Route)
	b = append(b, " model="...)
	b = appendTextString(b, ev.Model)
	b = append(b, " stream="...)
	b = strconv.AppendBool(b, ev.Stream)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(ev.Status), 10)
	b = append(b, " outcome="...)
	b = appendTextString(b, string(ev.Outcome))
	b = append(b, " target="...)
	b = appendTextString(b, ev.Target)
	b = append(b, " attempts="...)
	b = strconv.AppendInt(b, int64(len(ev.Attempts)), 10)
	b = append(b, " rate_limits="...)
	b = strconv.AppendInt(b, int64(ev.RateLimits), 10)
	b = append(b, " latency_ms="...)
	b = stats.AppendMillis(b, ev.LatencyMs, 'g')
	b = append(b, " ttfb_ms="...)
	b = stats.AppendMillis(b, ev.TTFBMs, 'g')
	b = append(b, " input_tokens="...)
	b = strconv.AppendInt(b, int64(ev.InputTokens), 10)
	b = append(b, " output_tokens="...)
	b = strconv.AppendInt(b, int64(ev.OutputTokens), 10)
	b = append(b, " error="...)
	b = appendTextString(b, ev.Error)
	return append(b, '\n')
}

// appendTextString writes s as slog's text handler does: bare, or quoted
// when it needs to be.
func appendTextString(b []byte, s string) []byte {
	if needsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

// needsQuoting is log/slog's rule for text values: empty, a space, '=',
// '"', an ASCII control character, invalid UTF-8, or a Unicode space or
// unprintable rune.
func needsQuoting(s string) bool {
	if len(s) == 0 {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c == ' ' || c == '=' || c == '"' || c < 0x20 {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}
