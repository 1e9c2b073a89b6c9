package app

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// A translated stream is relayed event by event (TRANSLATION.md: "each
// upstream event is translated and flushed as it arrives"). The simulated
// upstream holds each event until the client has received what the proxy
// made of the one before: a proxy that buffered (to the end, or a few
// events, or a flush per several events) would never let the stream
// finish. The time from each upstream event leaving to its translation
// reaching the client is a benchmark figure, not a timed assertion.

// gatedDirection is one translation direction of a gated stream.
type gatedDirection struct {
	name    string
	routing string                                         // one target of the other API
	path    string                                         // the client's route
	body    string                                         // the client's stream request
	events  func(words []string) []string                  // the upstream's stream
	marks   func(words []string, events []string) []string // what the client sees for each event ("" nothing awaited)
}

var gatedDirections = []gatedDirection{
	{
		name: "anthropic_client_openai_target", routing: openAIOnly, path: "/v1/messages",
		body:   `{"model":"gpt-4o","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		events: func(words []string) []string { return sim.OpenAIStream(words, 10, len(words)) },
		// role chunk → message_start; then one chunk per word.
		marks: func(words []string, events []string) []string {
			m := make([]string, len(events))
			m[0] = "event: message_start"
			for i, w := range words {
				m[1+i] = w
			}
			return m
		},
	},
	{
		name: "openai_client_anthropic_target", routing: anthropicOnly, path: "/v1/chat/completions",
		body:   `{"model":"claude-sonnet-4-5","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		events: func(words []string) []string { return sim.AnthropicStream(words, 10, len(words)) },
		// message_start → the role chunk; content_block_start and ping
		// give nothing; then one delta per word.
		marks: func(words []string, events []string) []string {
			m := make([]string, len(events))
			m[0] = `"role":"assistant"`
			for i, w := range words {
				m[3+i] = w
			}
			return m
		},
	},
}

// gatedWords are the words of a gated stream: unique, so that each marks one event.
func gatedWords(n int) []string {
	w := make([]string, n)
	for i := range w {
		w[i] = fmt.Sprintf(" tok%04dx", i)
	}
	return w
}

// gatedRun streams one request whose upstream events are each held until
// the client saw the previous marked event's translation (bounded by
// hold). It returns, for each marked event, the time from the upstream
// writing it to the client reading its translation, and a non-empty
// problem when an event was held in vain or the stream broke.
func gatedRun(tb testing.TB, p *proxy, srv *sim.Server, d gatedDirection, words []string, hold time.Duration) (lat []time.Duration, problem string) {
	tb.Helper()
	events := d.events(words)
	marks := d.marks(words, events)
	seen := make([]chan struct{}, len(events))
	sent := make([]time.Time, len(events))
	got := make([]time.Time, len(events))
	for i := range seen {
		seen[i] = make(chan struct{})
	}
	var (
		mu    sync.Mutex
		held  string // the first hold in vain
		abort = make(chan struct{})
	)
	srv.Push(sim.Step{Events: events, BeforeEvent: func(i int) {
		for j := i - 1; j >= 0; j-- {
			if marks[j] == "" {
				continue
			}
			select {
			case <-seen[j]:
			case <-abort: // an earlier hold failed: let the rest go
			case <-time.After(hold):
				mu.Lock()
				held = fmt.Sprintf("upstream event %d held %v: the client had not received the translation of event %d (%q)", i, hold, j, marks[j])
				mu.Unlock()
				close(abort)
			}
			break
		}
		sent[i] = time.Now() // read by the client only after seen[i] closes
	}})
	heldInVain := func() string {
		mu.Lock()
		defer mu.Unlock()
		return held
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp := p.do(ctx, request{path: d.path, body: d.body})
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Sprintf("status %d", resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	next := slices.IndexFunc(marks, func(m string) bool { return m != "" })
	for next >= 0 {
		line, err := br.ReadString('\n')
		if err != nil {
			if h := heldInVain(); h != "" {
				return nil, h
			}
			return nil, fmt.Sprintf("stream ended before the translation of event %d (%q): %v", next, marks[next], err)
		}
		if !strings.Contains(line, marks[next]) {
			continue
		}
		got[next] = time.Now()
		close(seen[next])
		k := slices.IndexFunc(marks[next+1:], func(m string) bool { return m != "" })
		if k < 0 {
			break
		}
		next += 1 + k
	}
	for {
		if _, err := br.ReadString('\n'); err != nil {
			break
		}
	}
	if h := heldInVain(); h != "" {
		return nil, h
	}
	for i, m := range marks {
		if m != "" {
			lat = append(lat, got[i].Sub(sent[i]))
		}
	}
	return lat, ""
}

// TestTranslateE2E_StreamEventsNotBuffered: in both directions, each
// upstream event goes out only after the client received the translation
// of the one before (the role/message_start first, then each word); the
// stream completes, so no event waited for a later one.
func TestTranslateE2E_StreamEventsNotBuffered(t *testing.T) {
	for _, d := range gatedDirections {
		t.Run(d.name, func(t *testing.T) {
			srv := newUpstream(t, sim.Options{})
			p, _ := startRouted(t, d.routing, srv, nil)
			lat, problem := gatedRun(t, p, srv, d, gatedWords(8), 5*time.Second)
			if problem != "" {
				t.Fatal(problem)
			}
			if len(lat) != 9 {
				t.Fatalf("%d events timed, want 9", len(lat))
			}
		})
	}
}

// BenchmarkTranslateE2E_EventLatency reports the time from the upstream
// writing an event to the client reading its translation, through the
// proxy over loopback: mean and 99th percentile over every word event, and
// over the first event of each stream (TRANSLATION.md: within 1 ms). One
// op is one stream of 32 words.
func BenchmarkTranslateE2E_EventLatency(b *testing.B) {
	for _, d := range gatedDirections {
		b.Run(d.name, func(b *testing.B) {
			srv := newUpstream(b, sim.Options{})
			p, _ := startRouted(b, d.routing, srv, nil)
			words := gatedWords(32)
			var all, firsts []time.Duration
			for b.Loop() {
				lat, problem := gatedRun(b, p, srv, d, words, 10*time.Second)
				if problem != "" {
					b.Fatal(problem)
				}
				firsts = append(firsts, lat[0])
				all = append(all, lat...)
			}
			b.ReportMetric(meanMicros(all), "µs/event")
			b.ReportMetric(meanMicros(firsts), "µs/first-event")
			b.ReportMetric(p99Micros(all), "µs-p99/event")
			b.ReportMetric(p99Micros(firsts), "µs-p99/first-event")
		})
	}
}

func meanMicros(d []time.Duration) float64 {
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return float64(sum) / float64(len(d)) / 1e3
}

func p99Micros(d []time.Duration) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[(len(s)-1)*99/100]) / 1e3
}
