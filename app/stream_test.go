package app

// Streaming: events relayed as they come and unchanged (huge, malformed,
// unterminated), keep-alives in silences, streams that die or stall. A real
// proxy in front of the simulated upstream (see helpers_test.go).

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// Streaming is not buffered: 10 chunks 100ms apart reach the client as they
// are sent. Not parallel: it measures time.
func TestE2E_StreamArrivesIncrementally(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			up, p := setup(t, 1)
			evs := f.stream(words(10), 9, 10)
			up.Push(sim.Step{Events: evs, Interval: 100 * time.Millisecond})

			a, got := p.streamOK(f.req(f.streamBody))
			wantStatus(t, a, 200)
			for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
				assert.True(t, strings.HasPrefix(a.header.Get(k), want), "%s = %q, want %q", k, a.header.Get(k), want)
			}
			require.Equal(t, concat(evs), string(a.body), "stream differs")
			first, last := got[0].at, got[len(got)-1].at
			total := time.Duration(len(evs)-1) * 100 * time.Millisecond
			assert.LessOrEqual(t, first, 300*time.Millisecond, "first event (buffered?)")
			assert.GreaterOrEqual(t, last, total-200*time.Millisecond, "last event")
			// Each event arrives on its own, not in bursts (a little
			// scheduling jitter aside).
			var bursts int
			for i := 1; i < len(got); i++ {
				if gap := got[i].at - got[i-1].at; gap < 25*time.Millisecond {
					bursts++
				}
			}
			assert.LessOrEqual(t, bursts, 2, "events of %d that arrived within 25ms of the previous one: bursty relay", len(got)-1)
			ev := p.event(1)
			assert.Equal(t, stats.OutcomeOK, ev.Outcome)
			assert.True(t, ev.Terminal)
			assert.Equal(t, 9, ev.InputTokens)
			assert.Equal(t, 10, ev.OutputTokens)
			assert.True(t, ev.TTFBMs > 0 && ev.TTFBMs <= 300 && ev.LatencyMs >= float64(total.Milliseconds())-200,
				"record ttfb %.1fms latency %.1fms", ev.TTFBMs, ev.LatencyMs)
		})
	}
}

// The upstream dies mid-stream: the client gets the events sent so far, then
// an error event in the family's shape, and the stream ends. No terminal
// marker is invented and nothing is retried.
func TestE2E_MidStreamDeath(t *testing.T) {
	t.Parallel()
	eachFamily(t, func(t *testing.T, f family) {
		up, p := setup(t, 2)
		full := f.stream(words(5), 4, 5)
		sent := full[:4]
		up.Push(sim.Step{Events: sent, Fault: sim.FaultCutStream, Interval: 10 * time.Millisecond},
			sim.Step{Events: full})

		a, evs, err := p.stream(f.req(f.streamBody))
		require.NoError(t, err, "the client stream should end cleanly with an error event")
		wantStatus(t, a, 200)
		require.True(t, strings.HasPrefix(string(a.body), concat(sent)), "client stream does not start with the upstream's events:\n%s", a.body)
		rest := strings.TrimPrefix(string(a.body), concat(sent))
		require.Len(t, evs, len(sent)+1, "events sent + 1 error event; tail %q", rest)
		checkStreamErrorEvent(t, f, evs[len(evs)-1].raw)
		assert.NotContains(t, string(a.body), "[DONE]", "a terminal marker was invented")
		assert.NotContains(t, string(a.body), "message_stop", "a terminal marker was invented")
		wantCount(t, "upstream", up, 1)
		ev := p.event(1)
		assert.Equal(t, stats.OutcomeStreamBroken, ev.Outcome)
		assert.False(t, ev.Terminal)
		assert.False(t, ev.Success())
		assert.Len(t, ev.Attempts, 1, "trail %v", trail(ev))
		assert.NotEmpty(t, ev.Error)
	})
}

// checkStreamErrorEvent checks that raw is an SSE error event in the family's shape.
func checkStreamErrorEvent(t *testing.T, f family, raw string) {
	t.Helper()
	prefix := "data: "
	if f.name == "anthropic" {
		prefix = "event: error\ndata: "
	}
	if !assert.True(t, strings.HasPrefix(raw, prefix), "error event %q does not start with %q", raw, prefix) {
		return
	}
	errorMessage(t, f.name, []byte(strings.TrimSpace(strings.TrimPrefix(raw, prefix))))
}

// A silent stretch in a stream gets keep-alives: an SSE comment on OpenAI
// routes, event: ping on /v1/messages; the data is relayed unchanged around them.
func TestE2E_KeepAliveDuringSilence(t *testing.T) {
	t.Parallel()
	eachFamily(t, func(t *testing.T, f family) {
		up, p := setup(t, 1, func(c *Config) {
			c.KeepAliveInterval = 200 * time.Millisecond
			c.StreamIdleTimeout = 3 * time.Second
		})
		evs := f.stream(words(2), 2, 2)
		up.Push(sim.Step{Events: []string{concat(evs[:2]), concat(evs[2:])}, Interval: 1200 * time.Millisecond})

		a, got := p.streamOK(f.req(f.streamBody))
		wantStatus(t, a, 200)
		want := ": keep-alive\n\n"
		if f.name == "anthropic" {
			want = proxyPing
		}
		var kas int
		var data strings.Builder
		for _, e := range got {
			if e.raw == want {
				kas++
				continue
			}
			assert.False(t, strings.HasPrefix(e.raw, ":"), "unexpected comment %q", e.raw)
			data.WriteString(e.raw)
		}
		assert.GreaterOrEqual(t, kas, 3, "keep-alives (%q) in a 1.2s silence with a 200ms interval; stream:\n%s", want, a.body)
		assert.Equal(t, concat(evs), data.String(), "data events")
		ev := p.event(1)
		assert.Equal(t, stats.OutcomeOK, ev.Outcome)
		assert.True(t, ev.Terminal)
	})
}

// A stream that stalls: after the idle timeout the client gets an error
// event in the family's shape and the stream ends; the upstream connection is
// closed; the record says stream_broken.
func TestFaults_StreamStall(t *testing.T) {
	t.Parallel()
	eachFamily(t, func(t *testing.T, f family) {
		up, p := setup(t, 2, func(c *Config) {
			c.StreamIdleTimeout = time.Second
			c.KeepAliveInterval = 200 * time.Millisecond
		})
		evs := f.stream(words(4), 4, 4)
		sent := evs[:4]
		up.Push(sim.Step{Events: sent, Fault: sim.FaultStall})

		a, got, err := p.stream(f.req(f.streamBody))
		require.NoError(t, err, "the stream should end with an error event")
		wantStatus(t, a, 200)
		data := dataEvents(got)
		require.Len(t, data, len(sent)+1, "data events: sent + 1 error event:\n%s", a.body)
		var relayed strings.Builder
		for _, e := range data[:len(sent)] {
			relayed.WriteString(e.raw)
		}
		assert.Equal(t, concat(sent), relayed.String(), "relayed events")
		last := data[len(data)-1]
		checkStreamErrorEvent(t, f, last.raw)
		idle := last.at - data[len(sent)-1].at
		assert.True(t, idle >= 900*time.Millisecond && idle <= 2500*time.Millisecond, "error event %v after the last data, want the 1s idle timeout", idle)
		assert.NotContains(t, string(a.body), "[DONE]", "terminal marker invented")
		assert.NotContains(t, string(a.body), "message_stop", "terminal marker invented")
		waitGone(t, up, 2*time.Second)
		wantCount(t, "upstream", up, 1)
		ev := p.event(1)
		assert.Equal(t, stats.OutcomeStreamBroken, ev.Outcome)
		assert.False(t, ev.Terminal)
		assert.NotEmpty(t, ev.Error)
	})
}

// A malformed event in a stream is relayed as it is; the rest is intact and
// still inspected (usage, terminal marker).
func TestFaults_MalformedEventRelayed(t *testing.T) {
	t.Parallel()
	bad := []string{"data: {\"choices\":[{\"delta\":{\"content\":\"unterminated\n\n", "this line has no field\n\n", "data:\xff\xfe not utf-8\n\n"}
	for _, f := range families {
		for _, where := range []string{"middle", "first"} {
			t.Run(f.name+"-"+where, func(t *testing.T) {
				t.Parallel()
				up, p := setup(t, 1)
				good := f.stream(words(3), 6, 3)
				var evs []string
				if where == "first" {
					evs = append(append(evs, bad...), good...)
				} else {
					evs = append(append(append(evs, good[:3]...), bad...), good[3:]...)
				}
				up.Push(sim.Step{Events: evs})
				a, _ := p.streamOK(f.req(f.streamBody))
				wantStatus(t, a, 200)
				assert.Equal(t, concat(evs), string(a.body), "stream changed")
				wantCount(t, "upstream", up, 1)
				wantRecordOK(t, p.event(1), true, 6, 3)
			})
		}
	}
}

// A stream that ends cleanly at the HTTP level without its terminal marker is
// relayed as it is (no error event added), its usage counted, and recorded
// ok with terminal=false.
func TestFaults_StreamWithoutTerminalMarker(t *testing.T) {
	t.Parallel()
	eachFamily(t, func(t *testing.T, f family) {
		up, p := setup(t, 1)
		full := f.stream(words(3), 8, 3)
		evs := full[:len(full)-1] // everything but [DONE] / message_stop
		up.Push(sim.Step{Events: evs})
		a, _ := p.streamOK(f.req(f.streamBody))
		wantStatus(t, a, 200)
		assert.Equal(t, concat(evs), string(a.body), "want exactly the stream")
		ev := p.event(1)
		wantRecordOK(t, ev, false, 8, 3)
		assert.Equal(t, 200, ev.Status)
	})
}

// A single SSE event larger than 1 MiB is relayed intact, first or in the middle.
func TestFaults_HugeSSEEvent(t *testing.T) {
	t.Parallel()
	for _, f := range families {
		for _, where := range []string{"first", "middle"} {
			t.Run(f.name+"-"+where, func(t *testing.T) {
				t.Parallel()
				up, p := setup(t, 1)
				var sb strings.Builder
				for sb.Len() < 1536<<10 {
					fmt.Fprintf(&sb, "%07d-abcdefghijklmnopqrstuvwxyz ", sb.Len())
				}
				var huge string
				if f.name == "anthropic" {
					huge = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"" + sb.String() + "\"}}\n\n"
				} else {
					huge = sim.OpenAIChunk(sb.String())
				}
				good := f.stream(words(2), 4, 2)
				var evs []string
				if where == "first" {
					evs = append([]string{huge}, good...)
				} else {
					evs = append(append(append(evs, good[:2]...), huge), good[2:]...)
				}
				up.Push(sim.Step{Events: evs})
				a, got := p.streamOK(f.req(f.streamBody))
				wantStatus(t, a, 200)
				require.True(t, string(a.body) == concat(evs), "stream changed: got %d bytes, want %d", len(a.body), len(concat(evs)))
				assert.Len(t, got, len(evs), "events")
				wantRecordOK(t, p.event(1), true, 4, 2)
			})
		}
	}
}

// wantRecordOK checks a stream's record: outcome ok, the terminal flag and
// the token counts.
func wantRecordOK(t *testing.T, ev stats.Event, terminal bool, in, out int) {
	t.Helper()
	assert.Equal(t, stats.OutcomeOK, ev.Outcome)
	assert.Equal(t, terminal, ev.Terminal, "terminal")
	assert.Equal(t, in, ev.InputTokens, "input tokens")
	assert.Equal(t, out, ev.OutputTokens, "output tokens")
}
