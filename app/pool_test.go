package app

// Upstream connection pool: keep-alive reuse, half-read connections never
// reused, no slot leaked. A real proxy in front of the simulated upstream
// (see helpers_test.go).

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// Upstream connections are kept alive between requests, and one that was
// left half-read (a stream abandoned after its first event) is never reused.
func TestFaults_UpstreamConnectionReuse(t *testing.T) {
	t.Parallel()
	up, p := setup(t, 1)
	f := families[0]
	for i := range 4 {
		wantStatus(t, p.call(f.req(f.bodyFor(i%2 == 1))), 200)
	}
	assert.Equal(t, 1, up.ConnsOpened(), "upstream connections opened by 4 sequential requests (keep-alive)")
	// A rate-limited first event: the rest of that stream is never read, so
	// its connection must be closed, not pooled; the retry uses a new one.
	up.Push(sim.Step{Events: []string{f.errorEvent("rate_limit_error", "Rate limit reached"), "data: rest\n\n"}, Interval: 50 * time.Millisecond},
		sim.Step{Events: f.stream(words(2), 2, 2)})
	a, _ := p.streamOK(f.req(f.streamBody))
	require.Equal(t, 200, a.status, "retried stream")
	wantStatus(t, p.call(f.req(f.body)), 200)
	reqs := up.Requests()
	require.Len(t, reqs, 7, "upstream requests")
	assert.True(t, reqs[4].Conn != reqs[5].Conn && reqs[4].Conn != reqs[6].Conn,
		"the half-read connection #%d was reused (next requests on #%d, #%d)", reqs[4].Conn, reqs[5].Conn, reqs[6].Conn)
	assert.Equal(t, reqs[5].Conn, reqs[6].Conn, "a fully read stream's connection is reused")
}

// With one connection per target, every way a request can end — retried
// first event, cut stream, stall, client abort, timeout, error answers —
// gives its connection back: a request after them all is served at once.
func TestFaults_NoConnectionSlotLeak(t *testing.T) {
	t.Parallel()
	eachFamily(t, func(t *testing.T, f family) {
		up, p := setup(t, 1, func(c *Config) {
			c.MaxConnsPerTarget = 1
			c.ConnectTimeout = 500 * time.Millisecond
			c.StreamIdleTimeout = 500 * time.Millisecond
			c.StreamFirstByteTimeout = 500 * time.Millisecond
			c.ResponseTimeout = 500 * time.Millisecond
			c.KeepAliveInterval = 100 * time.Millisecond
			c.MaxRetries = 1
		})
		evs := f.stream(words(40), 2, 40)
		steps := []struct {
			name   string
			body   string
			steps  []sim.Step
			status int
			abort  bool
		}{
			{"first-event rate limit, retried", f.streamBody, []sim.Step{{Events: []string{f.errorEvent("rate_limit_error", "rate limit")}}, {Events: evs[:3]}}, 200, false},
			{"cut stream", f.streamBody, []sim.Step{{Events: evs[:3], Fault: sim.FaultCutStream}}, 200, false},
			{"stalled stream", f.streamBody, []sim.Step{{Events: evs[:3], Fault: sim.FaultStall}}, 200, false},
			{"client abort", f.streamBody, []sim.Step{{Events: evs, Interval: 50 * time.Millisecond}}, 200, true},
			{"timeout", f.body, []sim.Step{{Fault: sim.FaultHang}}, 504, false},
			{"stream timeout", f.streamBody, []sim.Step{{HeaderDelay: 5 * time.Second}}, 504, false},
			{"error to a stream request", f.streamBody, []sim.Step{{Status: 400, Body: f.errorBody("invalid_request_error", "bad")}}, 400, false},
			{"half a body", f.body, []sim.Step{{Body: f.okBody, Fault: sim.FaultCutStream}, {Body: f.okBody}}, 200, false},
			{"reset", f.body, []sim.Step{{Fault: sim.FaultReset}, {Body: f.okBody}}, 200, false},
		}
		for _, st := range steps {
			up.Push(st.steps...)
			if st.abort {
				resp := p.do(t.Context(), f.req(st.body))
				buf := make([]byte, 64)
				_, err := resp.Body.Read(buf)
				require.NoError(t, err, st.name)
				resp.Body.Close()
				waitGone(t, up, 2*time.Second)
				continue
			}
			a := p.call(f.req(st.body))
			assert.Equal(t, st.status, a.status, "%s: %.200s", st.name, a.body)
			if !assert.Zero(t, up.Pending(), "%s: scripted steps left", st.name) {
				return
			}
		}
		// Every slot must be free again now.
		for i := range 3 {
			a := p.call(f.req(f.body))
			assert.True(t, a.status == 200 && a.took <= 400*time.Millisecond,
				"request %d after the faults: %d after %v (a leaked connection slot?) %.200s", i, a.status, a.took, a.body)
		}
	})
}
