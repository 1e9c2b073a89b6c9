package logging

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/llm-proxy/llm-proxy/stats"
)

// slogLine is what slog's own text handler writes for the request line.
func slogLine(t testing.TB, at time.Time, level slog.Level, ev *stats.Event) string {
	t.Helper()
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	r := slog.NewRecord(at, level, RequestMessage, 0)
	r.AddAttrs(RequestAttrs(ev)...)
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func sampleEvent() *stats.Event {
	return &stats.Event{
		Method: "POST", Route: "/v1/chat/completions", Model: "gpt-4o-mini", Stream: true,
		Status: 200, Outcome: stats.OutcomeOK, Target: "api.openai.com",
		Attempts:   []stats.Attempt{{Target: "a", Status: 429}, {Target: "b", Status: 200}},
		RateLimits: 1, LatencyMs: 123.456, TTFBMs: 0.5, InputTokens: 12, OutputTokens: 34,
	}
}

func TestAppendRequestText(t *testing.T) {
	at := time.Date(2026, 12, 1, 23, 2, 33, 120_999_999, time.UTC)
	cases := map[string]func(*stats.Event){
		"plain":           func(*stats.Event) {},
		"empty strings":   func(e *stats.Event) { *e = stats.Event{} },
		"spaces, quotes":  func(e *stats.Event) { e.Error = `upstream answered 502 Bad "Gateway"`; e.Model = "a=b" },
		"control, utf-8":  func(e *stats.Event) { e.Model = "模型\t\x7f\\"; e.Target = "caf\xc3" },
		"unicode space":   func(e *stats.Event) { e.Model = "a\u00a0b"; e.Route = "/v1/\u2028" },
		"replacement":     func(e *stats.Event) { e.Model = "\ufffd" },
		"odd floats":      func(e *stats.Event) { e.LatencyMs, e.TTFBMs = math.NaN(), math.Inf(-1) },
		"big floats":      func(e *stats.Event) { e.LatencyMs, e.TTFBMs = 1e21, 1234567.891 },
		"negative ints":   func(e *stats.Event) { e.Status, e.InputTokens = -1, math.MinInt },
		"no attempts":     func(e *stats.Event) { e.Attempts = nil },
		"client gone 499": func(e *stats.Event) { e.Status, e.Outcome = 499, stats.OutcomeClientGone },
	}
	for name, edit := range cases {
		for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn, slog.LevelError, slog.LevelDebug} {
			ev := sampleEvent()
			edit(ev)
			got := string(appendRequestText(nil, at, level, ev))
			if want := slogLine(t, at, level, ev); got != want {
				t.Errorf("%s, %v:\ngot  %q\nwant %q", name, level, got, want)
			}
		}
	}
}

func TestAppendRequestText_LocalZone(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.FixedZone("X", 5*3600+30*60))
	ev := sampleEvent()
	if got, want := string(appendRequestText(nil, at, slog.LevelInfo, ev)), slogLine(t, at, slog.LevelInfo, ev); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func FuzzAppendRequestText(f *testing.F) {
	f.Add("POST", "/v1/chat/completions", "gpt-4o", "ok", "t", "", 200, 1.5, int64(0))
	f.Add("", "", "", "", "", "a b=\"c\"", -1, math.NaN(), int64(1))
	f.Fuzz(func(t *testing.T, method, route, model, outcome, target, errText string, status int, latency float64, nanos int64) {
		ev := &stats.Event{Method: method, Route: route, Model: model, Outcome: stats.Outcome(outcome),
			Target: target, Error: errText, Status: status, LatencyMs: latency, TTFBMs: -latency}
		at := time.Unix(1_700_000_000, nanos%1e9).UTC()
		if got, want := string(appendRequestText(nil, at, slog.LevelWarn, ev)), slogLine(t, at, slog.LevelWarn, ev); got != want {
			t.Errorf("got  %q\nwant %q", got, want)
		}
	})
}

// timeField matches the time attribute, the one part that differs between two calls.
var timeField = regexp.MustCompile(`^time=\S+ `)

func TestLogRequest(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	l := slog.New(NewHandler(w, false, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ev := sampleEvent()
	LogRequest(l, slog.LevelInfo, ev)
	LogRequest(l, slog.LevelDebug, ev) // below the level: nothing
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := timeField.ReplaceAllString(out.String(), "")
	want := timeField.ReplaceAllString(slogLine(t, time.Now(), slog.LevelInfo, ev), "")
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestLogRequest_OtherHandlers(t *testing.T) {
	ev := sampleEvent()
	for name, mk := range map[string]func(*bytes.Buffer) (*slog.Logger, *Writer){
		"json Handler": func(b *bytes.Buffer) (*slog.Logger, *Writer) {
			w := NewWriter(b)
			return slog.New(NewHandler(w, true, nil)), w
		},
		"derived Handler": func(b *bytes.Buffer) (*slog.Logger, *Writer) {
			w := NewWriter(b)
			return slog.New(NewHandler(w, false, nil)).With("k", "v"), w
		},
		"plain slog": func(b *bytes.Buffer) (*slog.Logger, *Writer) {
			return slog.New(slog.NewJSONHandler(b, nil)), nil
		},
	} {
		var out bytes.Buffer
		l, w := mk(&out)
		LogRequest(l, slog.LevelWarn, ev)
		if w != nil {
			w.Close()
		}
		for _, want := range []string{"request", "gpt-4o-mini", "api.openai.com", "123.456", "WARN"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s: %q lacks %q", name, out.String(), want)
			}
		}
		if name == "derived Handler" && !strings.Contains(out.String(), "k=v") {
			t.Errorf("%s: %q lacks the logger's own attribute", name, out.String())
		}
	}
}

// A line handed to the Writer must be its own copy: the pooled line buffer
// is reused by the next request at once.
func TestLogRequest_PooledBufferReuse(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	l := slog.New(NewHandler(w, false, nil))
	first, second := sampleEvent(), sampleEvent()
	first.Model, second.Model = "first-model", "second-model-xxxxxxxxxxxxxxxx"
	for range 50 { // with the pool, later calls reuse the earlier buffers
		LogRequest(l, slog.LevelInfo, first)
		LogRequest(l, slog.LevelInfo, second)
	}
	w.Close()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 100 {
		t.Fatalf("got %d lines, want 100", len(lines))
	}
	for i, line := range lines {
		want := timeField.ReplaceAllString(slogLine(t, time.Now(), slog.LevelInfo, []*stats.Event{first, second}[i%2]), "")
		if got := timeField.ReplaceAllString(line+"\n", ""); got != want {
			t.Fatalf("line %d: got %q, want %q", i, got, want)
		}
	}
}

func BenchmarkLogRequest(b *testing.B) {
	ev := sampleEvent()
	for _, bc := range []struct {
		name string
		l    func(*Writer) *slog.Logger
	}{
		{"fast", func(w *Writer) *slog.Logger { return slog.New(NewHandler(w, false, nil)) }},
		{"slog", func(w *Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w := NewWriter(discard{})
			defer w.Close()
			l := bc.l(w)
			b.ReportAllocs()
			for b.Loop() {
				LogRequest(l, slog.LevelInfo, ev)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
