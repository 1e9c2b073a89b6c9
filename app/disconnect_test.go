package app

// Client disconnect: a client that leaves cancels its upstream request,
// mid-stream or while the proxy waits. A real proxy in front of the
// simulated upstream (see helpers_test.go).

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// A client that goes away mid-stream: the upstream connection is closed
// within 2s, nothing is retried, and the record says client_gone (499).
func TestE2E_ClientAbortClosesUpstream(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		f     family
		fault sim.Fault // FaultStall: the client leaves during upstream silence
	}{
		{"openai-flowing", families[0], sim.FaultNone},
		{"anthropic-flowing", families[1], sim.FaultNone},
		{"openai-silent", families[0], sim.FaultStall},
		{"anthropic-silent", families[1], sim.FaultStall},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := tc.f
			up, p := setup(t, 2, func(c *Config) { c.KeepAliveInterval = 200 * time.Millisecond })
			evs := f.stream(words(60), 3, 60)
			step := sim.Step{Events: evs, Interval: 100 * time.Millisecond}
			if tc.fault == sim.FaultStall {
				step = sim.Step{Events: evs[:3], Fault: sim.FaultStall}
			}
			up.Push(step)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			resp := p.do(ctx, f.req(f.streamBody))
			buf := make([]byte, 1)
			var read []byte
			for !strings.Contains(string(read), "\n\n") {
				_, err := resp.Body.Read(buf)
				require.NoError(t, err, "reading the first event")
				read = append(read, buf[0])
			}
			cancel()
			resp.Body.Close()
			took := waitGone(t, up, 2*time.Second)
			assert.LessOrEqual(t, took, 2*time.Second, "upstream closed after")
			ev := p.event(1)
			assert.Equal(t, stats.OutcomeClientGone, ev.Outcome)
			assert.Equal(t, 499, ev.Status)
			wantCount(t, "upstream", up, 1)
			assert.EqualValues(t, 1, p.app.Recorder().Snapshot().Totals.ClientGone, "totals client_gone")
		})
	}
}

// TestFaults_ClientLeavesWhileWaiting: a client that gives up while the proxy
// still waits for the upstream's answer (no byte sent yet, stream or not)
// cancels the upstream request promptly, and no other target is tried.
func TestFaults_ClientLeavesWhileWaiting(t *testing.T) {
	t.Parallel()
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			t.Parallel()
			f := families[0]
			up, p := setup(t, 2)
			up.Push(sim.Step{Fault: sim.FaultHang})

			ctx, cancel := context.WithCancel(context.Background())
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+f.path, strings.NewReader(f.bodyFor(stream)))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+clientKey)
			done := make(chan struct{})
			go func() {
				defer close(done)
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
					assert.Fail(t, "got an answer from a hung upstream", "status %d", resp.StatusCode)
				}
			}()
			time.Sleep(300 * time.Millisecond) // the proxy is waiting on the hung upstream
			cancel()
			<-done
			took := waitGone(t, up, 2*time.Second)
			assert.LessOrEqual(t, took, 1500*time.Millisecond, "upstream saw the cancel after")
			ev := p.event(1)
			assert.Equal(t, stats.OutcomeClientGone, ev.Outcome)
			assert.Equal(t, 499, ev.Status)
			assert.Len(t, trail(ev), 1, "exactly one attempt")
			wantCount(t, "upstream requests", up, 1)
		})
	}
}
