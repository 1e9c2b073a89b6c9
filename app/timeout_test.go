package app

// Timeouts: a silent upstream gets 504; slow answers within the limits do
// not. A real proxy in front of the simulated upstream (see helpers_test.go).

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// A silent upstream: the client gets 504 in the family's shape after the
// configured wait, the silent upstream is not asked again and no other
// target is tried (it may still be working, and billing).
func TestFaults_SilentUpstreamTimesOut(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		stream bool
		step   sim.Step
	}{
		{"hang", false, sim.Step{Fault: sim.FaultHang}},
		{"hang-stream", true, sim.Step{Fault: sim.FaultHang}},
		{"header-delay", false, sim.Step{HeaderDelay: 20 * time.Second, Body: `{}`}},
		{"header-delay-stream", true, sim.Step{HeaderDelay: 20 * time.Second, Events: []string{"data: {}\n\n"}}},
		{"headers-then-silence-stream", true, sim.Step{Events: []string{}, Fault: sim.FaultStall}},
		{"half-body", false, sim.Step{Body: families[0].okBody, Fault: sim.FaultStall}},
	}
	for _, tc := range cases {
		for _, f := range families {
			t.Run(tc.name+"-"+f.name, func(t *testing.T) {
				t.Parallel()
				upA, upB, p := setupPair(t, func(c *Config) {
					c.ResponseTimeout = time.Second
					c.StreamFirstByteTimeout = time.Second
				})
				upA.Push(tc.step)
				a := p.call(f.req(f.bodyFor(tc.stream)))
				wantStatus(t, a, http.StatusGatewayTimeout)
				wantErrorShape(t, f, a.body, "")
				assert.True(t, a.took >= 900*time.Millisecond && a.took <= 3*time.Second, "504 after %v, want after the configured 1s", a.took)
				waitGone(t, upA, 2*time.Second) // the proxy hung up on it
				wantCount(t, "silent upstream", upA, 1)
				wantCount(t, "other upstream", upB, 0)
				ev := p.event(1)
				assert.Equal(t, []string{"A:0:timeout"}, trail(ev))
				assert.Equal(t, stats.OutcomeTimeout, ev.Outcome)
				assert.Equal(t, 504, ev.Status)
			})
		}
	}
}

// A slow first token within the limit is no timeout; a stream that lasts
// longer than the first-byte timeout is not cut by it; pauses shorter than
// the idle timeout do not cut a stream.
func TestFaults_SlowButWithinLimits(t *testing.T) {
	t.Parallel()
	eachFamily(t, func(t *testing.T, f family) {
		up := newUpstream(t, sim.Options{})
		cfg := testConfig([]string{up.URL()}, []string{upKeyA, upKeyB})
		cfg.StreamFirstByteTimeout = 3 * time.Second
		cfg.ResponseTimeout = 3 * time.Second
		cfg.StreamIdleTimeout = 2 * time.Second // a margin over the 700ms pauses below on a busy machine
		cfg.KeepAliveInterval = 300 * time.Millisecond
		p := startProxy(t, cfg)

		// First event after 1.5s (headers at once).
		evs := f.stream(words(3), 3, 3)
		up.Push(sim.Step{Events: evs, FirstDelay: 1500 * time.Millisecond})
		a, got := p.streamOK(f.req(f.streamBody))
		wantStatus(t, a, 200)
		assert.Equal(t, concat(evs), string(a.body), "slow first token: stream")
		assert.GreaterOrEqual(t, got[0].at, 1400*time.Millisecond, "first event: the step's delay did not apply")
		// Non-stream answer after 1.5s.
		up.Push(sim.Step{Body: f.okBody, HeaderDelay: 1500 * time.Millisecond})
		wantStatus(t, p.call(f.req(f.body)), 200)

		// Stream running 2.1s in total with a 700ms pause each time:
		// beyond the 1s first-byte timeout but never idle for 2s.
		cfg2 := cfg
		cfg2.StreamFirstByteTimeout = time.Second
		p2 := startProxy(t, cfg2)
		long := f.stream(words(1), 1, 1)
		n := len(long)
		chunks := []string{concat(long[:2]), concat(long[2 : n-2]), long[n-2], long[n-1]}
		up.Push(sim.Step{Events: chunks, Interval: 700 * time.Millisecond})
		c, _ := p2.streamOK(f.req(f.streamBody))
		wantStatus(t, c, 200)
		var data strings.Builder
		for _, e := range dataEvents(splitEvents(string(c.body))) {
			data.WriteString(e.raw)
		}
		assert.Equal(t, concat(long), data.String(), "long stream cut or changed:\n%s", c.body)
		for i, ev := range append(p.events(2), p2.event(1)) {
			assert.Equal(t, stats.OutcomeOK, ev.Outcome, "record %d: trail %v", i, trail(ev))
			assert.Len(t, ev.Attempts, 1, "record %d: trail %v", i, trail(ev))
		}
	})
}

// splitEvents cuts wire text into events.
func splitEvents(s string) []timedEvent {
	var out []timedEvent
	for s != "" {
		i := strings.Index(s, "\n\n")
		if i < 0 {
			out = append(out, timedEvent{raw: s})
			break
		}
		out = append(out, timedEvent{raw: s[:i+2]})
		s = s[i+2:]
	}
	return out
}
