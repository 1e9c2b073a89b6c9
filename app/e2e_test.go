package app

// End-to-end tests: a real proxy (New + Serve on a loopback port) in front
// of scripted sim servers, driven by a real net/http client. Each
// test asserts what the client saw, what the request record says and what
// the upstream received. Scenarios from the relay issue.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// Two rate limits, then an answer: the client sees only the answer, after
// exactly three attempts on three different targets.
func TestE2E_RateLimitRetriedUntilSuccess(t *testing.T) {
	t.Parallel()
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, sim.Options{})
			cfg := testConfig([]string{up.URL()}, []string{upKeyA, upKeyB, upKeyC})
			cfg.TargetNames = []string{"ta", "tb", "tc"}
			p := startProxy(t, cfg)

			rl := sim.Step{Status: http.StatusTooManyRequests, Body: f.errorBody("rate_limit_error", "Rate limit reached")}
			up.Push(rl, rl, sim.Step{Body: f.okBody, Header: map[string]string{"X-Upstream-Marker": "third"}})

			a := p.call(f.req(f.body))
			wantStatus(t, a, http.StatusOK)
			if string(a.body) != f.okBody {
				t.Errorf("body = %s, want the third answer %s", a.body, f.okBody)
			}
			if got := a.header.Get("X-Upstream-Marker"); got != "third" {
				t.Errorf("X-Upstream-Marker = %q, want the third answer's headers", got)
			}
			wantCount(t, "upstream", up, 3)
			var keys []string
			for _, r := range up.Requests() {
				keys = append(keys, r.Key)
			}
			if want := []string{upKeyA, upKeyB, upKeyC}; !equalStrings(keys, want) {
				t.Errorf("upstream keys in order = %v, want every target once: %v", keys, want)
			}

			ev := p.event(1)
			if want := []string{"ta:429:rate_limit", "tb:429:rate_limit", "tc:200:ok"}; !equalStrings(trail(ev), want) {
				t.Errorf("attempt trail = %v, want %v", trail(ev), want)
			}
			if ev.Outcome != stats.OutcomeOK || ev.Status != 200 || ev.Target != "tc" || ev.RateLimits != 2 {
				t.Errorf("record = outcome %s status %d target %q rate_limits %d, want ok 200 tc 2", ev.Outcome, ev.Status, ev.Target, ev.RateLimits)
			}
			if ev.InputTokens != 11 || ev.OutputTokens != 7 {
				t.Errorf("tokens = %d/%d, want 11/7", ev.InputTokens, ev.OutputTokens)
			}
			if ev.Route != f.path || ev.Family != stats.Family(f.name) || ev.Stream {
				t.Errorf("record route %q family %q stream %v", ev.Route, ev.Family, ev.Stream)
			}
			tot := p.app.Recorder().Snapshot().Totals
			if tot.Successes != 1 || tot.RateLimits != 2 || tot.Retries != 2 {
				t.Errorf("totals = %+v, want 1 success, 2 rate limits, 2 retries", tot)
			}
		})
	}
}

// Every attempt rate limited: 429 with the fixed message in the family's
// shape after exactly MAX_RETRIES+1 attempts. The rate limits come as 429s
// and as other statuses whose body speaks of a rate limit.
func TestE2E_AllRateLimited(t *testing.T) {
	t.Parallel()
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, sim.Options{})
			cfg := testConfig([]string{up.URL()}, []string{upKeyA, upKeyB})
			cfg.TargetNames = []string{"ta", "tb"}
			cfg.MaxRetries = 3
			p := startProxy(t, cfg)

			up.Push(
				sim.Step{Status: 429, Body: f.errorBody("rate_limit_error", "Rate limit reached")},
				sim.Step{Status: 403, Body: f.errorBody("permission_error", "Too Many Requests for this organization")},
				sim.Step{Status: 429, Body: "slow down"},
				sim.Step{Status: 503, Body: f.errorBody("api_error", "upstream rate_limit exceeded")},
				sim.Step{Body: f.okBody}, // never reached
				sim.Step{Body: f.okBody},
			)
			a := p.call(f.req(f.body))
			wantStatus(t, a, http.StatusTooManyRequests)
			wantErrorShape(t, f, a.body, "错误重试全都rate limit,请再次重试.")
			if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if ra := a.header.Get("Retry-After"); ra != "" {
				t.Errorf("Retry-After = %q, want none: no target announced one", ra)
			}
			wantCount(t, "upstream", up, cfg.MaxRetries+1)
			if up.Pending() != 2 {
				t.Errorf("pending steps = %d, want 2 left", up.Pending())
			}
			ev := p.event(1)
			want := []string{"ta:429:rate_limit", "tb:403:rate_limit", "ta:429:rate_limit", "tb:503:rate_limit"}
			if !equalStrings(trail(ev), want) {
				t.Errorf("attempt trail = %v, want %v", trail(ev), want)
			}
			if ev.Outcome != stats.OutcomeRateLimited || ev.Status != 429 || ev.RateLimits != 4 || ev.Target != "" {
				t.Errorf("record = outcome %s status %d rate_limits %d target %q", ev.Outcome, ev.Status, ev.RateLimits, ev.Target)
			}
		})
	}
}

// A 200 stream whose first event is a rate-limit error is retried; the
// client sees only the next target's stream.
func TestE2E_StreamFirstEventRateLimitRetried(t *testing.T) {
	t.Parallel()
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, sim.Options{})
			cfg := testConfig([]string{up.URL()}, []string{upKeyA, upKeyB, upKeyC})
			cfg.TargetNames = []string{"ta", "tb", "tc"}
			p := startProxy(t, cfg)

			good := f.stream(words(3), 5, 3)
			up.Push(
				sim.Step{Events: []string{f.errorEvent("rate_limit_error", "Rate limit reached for requests")}},
				// a leading comment does not hide the error event
				sim.Step{Events: []string{": PROCESSING\n\n", f.errorEvent("rate_limit_error", "rate_limit_exceeded"), "data: never relayed\n\n"}},
				sim.Step{Events: good},
			)
			a, evs, err := p.stream(f.req(f.streamBody))
			if err != nil {
				t.Fatalf("reading stream: %v", err)
			}
			wantStatus(t, a, http.StatusOK)
			if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Errorf("Content-Type = %q", ct)
			}
			if string(a.body) != concat(good) {
				t.Errorf("client stream:\n%s\nwant the third target's stream only:\n%s", a.body, concat(good))
			}
			if len(evs) != len(good) {
				t.Errorf("got %d events, want %d", len(evs), len(good))
			}
			wantCount(t, "upstream", up, 3)
			ev := p.event(1)
			if want := []string{"ta:200:rate_limit", "tb:200:rate_limit", "tc:200:ok"}; !equalStrings(trail(ev), want) {
				t.Errorf("attempt trail = %v, want %v", trail(ev), want)
			}
			if ev.Outcome != stats.OutcomeOK || !ev.Stream || !ev.Terminal || ev.RateLimits != 2 || ev.Target != "tc" {
				t.Errorf("record = %+v", ev)
			}
			if ev.InputTokens != 5 || ev.OutputTokens != 3 {
				t.Errorf("tokens = %d/%d, want 5/3", ev.InputTokens, ev.OutputTokens)
			}
		})
	}
}

// A 500, then an answer.
func TestE2E_ServerErrorThenSuccess(t *testing.T) {
	t.Parallel()
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, sim.Options{})
			cfg := testConfig([]string{up.URL()}, []string{upKeyA, upKeyB})
			cfg.TargetNames = []string{"ta", "tb"}
			p := startProxy(t, cfg)
			up.Push(sim.Step{Status: 500, Body: f.errorBody("server_error", "internal")}, sim.Step{Body: f.okBody})

			a := p.call(f.req(f.body))
			wantStatus(t, a, http.StatusOK)
			if string(a.body) != f.okBody {
				t.Errorf("body = %s", a.body)
			}
			wantCount(t, "upstream", up, 2)
			ev := p.event(1)
			if want := []string{"ta:500:server_error", "tb:200:ok"}; !equalStrings(trail(ev), want) {
				t.Errorf("attempt trail = %v, want %v", trail(ev), want)
			}
			if ev.Outcome != stats.OutcomeOK || ev.RateLimits != 0 {
				t.Errorf("record outcome %s rate_limits %d", ev.Outcome, ev.RateLimits)
			}
		})
	}
}

// When every attempt gets a 5xx, the last one is relayed byte for byte:
// status, content type, other headers, body.
func TestE2E_AllServerErrorsRelayLast(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		f    family
		body string
	}{
		{"openai", families[0], openAIBody},
		{"anthropic", families[1], anthBody},
		{"openai-stream", families[0], openAIStreamBody},
		{"anthropic-stream", families[1], anthStreamBody},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, sim.Options{})
			cfg := testConfig([]string{up.URL()}, []string{upKeyA, upKeyB})
			cfg.MaxRetries = 2
			p := startProxy(t, cfg)
			lastBody := "<html><body>502 Bad Gateway — nginx ünïcode\x01</body></html>\n"
			up.Push(
				sim.Step{Status: 500, Body: tc.f.errorBody("server_error", "first")},
				sim.Step{Status: 503, Body: tc.f.errorBody("api_error", "second"), Header: map[string]string{"X-Attempt": "2"}},
				sim.Step{Status: 502, Body: lastBody, Header: map[string]string{
					"Content-Type": "text/html; charset=utf-8", "X-Attempt": "3"}},
			)
			a := p.call(request{path: tc.f.path, body: tc.body, keyHeader: tc.f.headerKey})
			wantStatus(t, a, 502)
			if string(a.body) != lastBody {
				t.Errorf("body = %q, want the last answer %q", a.body, lastBody)
			}
			if ct := a.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q, want the last answer's", ct)
			}
			if got := a.header.Get("X-Attempt"); got != "3" {
				t.Errorf("X-Attempt = %q, want 3 (the last answer's headers)", got)
			}
			wantCount(t, "upstream", up, 3)
			ev := p.event(1)
			if want := []string{"server_error", "server_error", "server_error"}; !equalStrings(reasons(ev), want) {
				t.Errorf("reasons = %v, want %v", reasons(ev), want)
			}
			if ev.Outcome != stats.OutcomeUpstreamError || ev.Status != 502 || ev.Target == "" {
				t.Errorf("record outcome %s status %d target %q", ev.Outcome, ev.Status, ev.Target)
			}
		})
	}
}

// 400, 401, 403, 404, 413, 422 are relayed unchanged at once and never retried.
func TestE2E_ClientErrorsRelayedNotRetried(t *testing.T) {
	t.Parallel()
	for _, status := range []int{400, 401, 403, 404, 413, 422} {
		for _, f := range families {
			t.Run(fmt.Sprintf("%d-%s", status, f.name), func(t *testing.T) {
				t.Parallel()
				up := newUpstream(t, sim.Options{})
				cfg := testConfig([]string{up.URL()}, []string{upKeyA, upKeyB})
				p := startProxy(t, cfg)
				body := f.errorBody("invalid_request_error", fmt.Sprintf("upstream says %d", status))
				up.Push(
					sim.Step{Status: status, Body: body, Header: map[string]string{
						"Content-Type": "application/json; charset=utf-8", "X-Request-Id": "req_123"}},
					sim.Step{Body: f.okBody},
				)
				a := p.call(f.req(f.body))
				wantStatus(t, a, status)
				if string(a.body) != body {
					t.Errorf("body = %s, want %s", a.body, body)
				}
				if ct := a.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
					t.Errorf("Content-Type = %q", ct)
				}
				if a.header.Get("X-Request-Id") != "req_123" {
					t.Errorf("X-Request-Id not relayed")
				}
				wantCount(t, "upstream", up, 1)
				ev := p.event(1)
				if want := []string{"client_error"}; !equalStrings(reasons(ev), want) {
					t.Errorf("reasons = %v", reasons(ev))
				}
				if ev.Outcome != stats.OutcomeUpstreamError || ev.Status != status {
					t.Errorf("record outcome %s status %d", ev.Outcome, ev.Status)
				}
			})
		}
	}
}

// A connection dropped before any response byte (RST or FIN) is retried on
// the next target, for plain and streaming requests.
func TestE2E_DroppedConnectionRetried(t *testing.T) {
	t.Parallel()
	for _, fault := range []sim.Fault{sim.FaultReset, sim.FaultClose} {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v-stream=%v", fault, stream), func(t *testing.T) {
				t.Parallel()
				f := families[0]
				up := newUpstream(t, sim.Options{})
				cfg := testConfig([]string{up.URL()}, []string{upKeyA, upKeyB})
				cfg.TargetNames = []string{"ta", "tb"}
				p := startProxy(t, cfg)
				good := f.stream(words(2), 3, 2)
				okStep := sim.Step{Body: f.okBody}
				body := f.body
				if stream {
					okStep = sim.Step{Events: good}
					body = f.streamBody
				}
				up.Push(sim.Step{Fault: fault}, okStep)
				a := p.call(f.req(body))
				wantStatus(t, a, 200)
				want := f.okBody
				if stream {
					want = concat(good)
				}
				if string(a.body) != want {
					t.Errorf("body = %s, want %s", a.body, want)
				}
				wantCount(t, "upstream", up, 2)
				ev := p.event(1)
				if want := []string{"ta:0:connect_error", "tb:200:ok"}; !equalStrings(trail(ev), want) {
					t.Errorf("attempt trail = %v, want %v", trail(ev), want)
				}
				if ev.Outcome != stats.OutcomeOK {
					t.Errorf("outcome = %s", ev.Outcome)
				}
			})
		}
	}
}

// Target A answers 429 with Retry-After: 30; the request is served by B and
// the next requests go straight to B without touching A.
func TestE2E_RetryAfterSkipsCoolingTarget(t *testing.T) {
	t.Parallel()
	upA := newUpstream(t, sim.Options{})
	upB := newUpstream(t, sim.Options{})
	cfg := testConfig([]string{upA.URL(), upB.URL()}, []string{upKeyA, upKeyB})
	cfg.TargetNames = []string{"A", "B"}
	p := startProxy(t, cfg)
	f := families[0]
	upA.Push(sim.Step{Status: 429, Header: map[string]string{"Retry-After": "30"}, Body: f.errorBody("rate_limit_error", "Rate limit reached")})

	a := p.call(f.req(f.body))
	wantStatus(t, a, 200)
	ev := p.event(1)
	if want := []string{"A:429:rate_limit", "B:200:ok"}; !equalStrings(trail(ev), want) {
		t.Fatalf("first request trail = %v, want %v", trail(ev), want)
	}
	for i := range 4 {
		a := p.call(f.req(f.body))
		wantStatus(t, a, 200)
		ev := p.event(2 + i)
		if want := []string{"B:200:ok"}; !equalStrings(trail(ev), want) {
			t.Errorf("request %d trail = %v, want %v", 2+i, trail(ev), want)
		}
	}
	wantCount(t, "A", upA, 1)
	wantCount(t, "B", upB, 5)
	var cooling bool
	for _, ts := range p.app.Recorder().Snapshot().Targets {
		if ts.Name == "A" {
			cooling = ts.State == "cooling" && ts.CoolingUntil != nil && time.Until(*ts.CoolingUntil) > 20*time.Second
		}
	}
	if !cooling {
		t.Errorf("target A is not shown cooling for ~30s: %+v", p.app.Recorder().Snapshot().Targets)
	}
}

// Streaming is not buffered: 10 chunks 100ms apart reach the client as they
// are sent. Not parallel: it measures time.
func TestE2E_StreamArrivesIncrementally(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			up := newUpstream(t, sim.Options{})
			cfg := testConfig([]string{up.URL()}, []string{upKeyA})
			p := startProxy(t, cfg)
			evs := f.stream(words(10), 9, 10)
			up.Push(sim.Step{Events: evs, Interval: 100 * time.Millisecond})

			a, got, err := p.stream(f.req(f.streamBody))
			if err != nil {
				t.Fatalf("reading: %v", err)
			}
			wantStatus(t, a, 200)
			for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
				if v := a.header.Get(k); !strings.HasPrefix(v, want) {
					t.Errorf("%s = %q, want %q", k, v, want)
				}
			}
			if string(a.body) != concat(evs) {
				t.Fatalf("stream differs:\n%s\nwant\n%s", a.body, concat(evs))
			}
			first, last := got[0].at, got[len(got)-1].at
			total := time.Duration(len(evs)-1) * 100 * time.Millisecond
			if first > 300*time.Millisecond {
				t.Errorf("first event after %v, want < 300ms (buffered?)", first)
			}
			if last < total-200*time.Millisecond {
				t.Errorf("last event after %v, want > %v", last, total-200*time.Millisecond)
			}
			// Each event arrives on its own, not in bursts (a little
			// scheduling jitter aside).
			var bursts int
			for i := 1; i < len(got); i++ {
				if gap := got[i].at - got[i-1].at; gap < 25*time.Millisecond {
					bursts++
				}
			}
			if bursts > 2 {
				t.Errorf("%d of %d events arrived within 25ms of the previous one: bursty relay", bursts, len(got)-1)
			}
			ev := p.event(1)
			if ev.Outcome != stats.OutcomeOK || !ev.Terminal || ev.InputTokens != 9 || ev.OutputTokens != 10 {
				t.Errorf("record outcome %s terminal %v tokens %d/%d", ev.Outcome, ev.Terminal, ev.InputTokens, ev.OutputTokens)
			}
			if ev.TTFBMs <= 0 || ev.TTFBMs > 300 || ev.LatencyMs < float64(total.Milliseconds())-200 {
				t.Errorf("record ttfb %.1fms latency %.1fms", ev.TTFBMs, ev.LatencyMs)
			}
		})
	}
}

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
			up := newUpstream(t, sim.Options{})
			cfg := testConfig([]string{up.URL()}, []string{upKeyA, upKeyB})
			cfg.KeepAliveInterval = 200 * time.Millisecond
			p := startProxy(t, cfg)
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
				if _, err := resp.Body.Read(buf); err != nil {
					t.Fatalf("reading the first event: %v", err)
				}
				read = append(read, buf[0])
			}
			cancel()
			resp.Body.Close()
			if took := waitGone(t, up, 2*time.Second); took > 2*time.Second {
				t.Errorf("upstream closed after %v", took)
			}
			ev := p.event(1)
			if ev.Outcome != stats.OutcomeClientGone || ev.Status != 499 {
				t.Errorf("record outcome %s status %d, want client_gone 499", ev.Outcome, ev.Status)
			}
			wantCount(t, "upstream", up, 1)
			if tot := p.app.Recorder().Snapshot().Totals; tot.ClientGone != 1 {
				t.Errorf("totals client_gone = %d", tot.ClientGone)
			}
		})
	}
}

// The upstream dies mid-stream: the client gets the events sent so far, then
// an error event in the family's shape, and the stream ends. No terminal
// marker is invented and nothing is retried.
func TestE2E_MidStreamDeath(t *testing.T) {
	t.Parallel()
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, sim.Options{})
			cfg := testConfig([]string{up.URL()}, []string{upKeyA, upKeyB})
			p := startProxy(t, cfg)
			full := f.stream(words(5), 4, 5)
			sent := full[:4]
			up.Push(sim.Step{Events: sent, Fault: sim.FaultCutStream, Interval: 10 * time.Millisecond},
				sim.Step{Events: full})

			a, evs, err := p.stream(f.req(f.streamBody))
			if err != nil {
				t.Fatalf("the client stream should end cleanly with an error event, got read error %v", err)
			}
			wantStatus(t, a, 200)
			if !strings.HasPrefix(string(a.body), concat(sent)) {
				t.Fatalf("client stream does not start with the upstream's events:\n%s", a.body)
			}
			rest := strings.TrimPrefix(string(a.body), concat(sent))
			if len(evs) != len(sent)+1 {
				t.Fatalf("got %d events, want %d sent + 1 error event; tail %q", len(evs), len(sent), rest)
			}
			last := evs[len(evs)-1].raw
			checkStreamErrorEvent(t, f, last)
			if strings.Contains(string(a.body), "[DONE]") || strings.Contains(string(a.body), "message_stop") {
				t.Errorf("a terminal marker was invented: %s", a.body)
			}
			wantCount(t, "upstream", up, 1)
			ev := p.event(1)
			if ev.Outcome != stats.OutcomeStreamBroken || ev.Terminal || ev.Success() {
				t.Errorf("record outcome %s terminal %v, want stream_broken false", ev.Outcome, ev.Terminal)
			}
			if len(ev.Attempts) != 1 || ev.Error == "" {
				t.Errorf("record attempts %v error %q", trail(ev), ev.Error)
			}
		})
	}
}

// checkStreamErrorEvent checks that raw is an SSE error event in the family's shape.
func checkStreamErrorEvent(t *testing.T, f family, raw string) {
	t.Helper()
	var data string
	if f.name == "anthropic" {
		if !strings.HasPrefix(raw, "event: error\ndata: ") {
			t.Errorf("error event %q does not start with event: error / data:", raw)
			return
		}
		data = strings.TrimPrefix(raw, "event: error\ndata: ")
	} else {
		if !strings.HasPrefix(raw, "data: ") {
			t.Errorf("error event %q is not a data event", raw)
			return
		}
		data = strings.TrimPrefix(raw, "data: ")
	}
	errorMessage(t, f.name, []byte(strings.TrimSpace(data)))
}

// A silent stretch in a stream gets keep-alives: an SSE comment on OpenAI
// routes, event: ping on /v1/messages; the data is relayed unchanged around them.
func TestE2E_KeepAliveDuringSilence(t *testing.T) {
	t.Parallel()
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, sim.Options{})
			cfg := testConfig([]string{up.URL()}, []string{upKeyA})
			cfg.KeepAliveInterval = 200 * time.Millisecond
			cfg.StreamIdleTimeout = 3 * time.Second
			p := startProxy(t, cfg)
			evs := f.stream(words(2), 2, 2)
			up.Push(sim.Step{Events: []string{concat(evs[:2]), concat(evs[2:])}, Interval: 1200 * time.Millisecond})

			a, got, err := p.stream(f.req(f.streamBody))
			if err != nil {
				t.Fatalf("reading: %v", err)
			}
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
				if strings.HasPrefix(e.raw, ":") {
					t.Errorf("unexpected comment %q", e.raw)
				}
				data.WriteString(e.raw)
			}
			if kas < 3 {
				t.Errorf("got %d keep-alives (%q) in a 1.2s silence with a 200ms interval, want >= 3; stream:\n%s", kas, want, a.body)
			}
			if data.String() != concat(evs) {
				t.Errorf("data events differ:\n%s\nwant\n%s", data.String(), concat(evs))
			}
			ev := p.event(1)
			if ev.Outcome != stats.OutcomeOK || !ev.Terminal {
				t.Errorf("record outcome %s terminal %v", ev.Outcome, ev.Terminal)
			}
		})
	}
}

// A 20 MiB body (a base64 image) passes intact.
func TestE2E_LargeBodyIntact(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, sim.Options{})
	cfg := testConfig([]string{up.URL()}, []string{upKeyA})
	p := startProxy(t, cfg)
	raw := make([]byte, 15<<20)
	for i := range raw {
		raw[i] = byte(i*7 + i>>11)
	}
	img := base64.StdEncoding.EncodeToString(raw) // 20 MiB
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,` + img + `"}}]}]}`
	if len(body) < 20<<20 {
		t.Fatalf("body is %d bytes", len(body))
	}
	up.Push(sim.Step{Body: families[0].okBody})
	a := p.call(request{path: "/v1/chat/completions", body: body})
	wantStatus(t, a, 200)
	reqs := up.Requests()
	if len(reqs) != 1 {
		t.Fatalf("upstream got %d requests", len(reqs))
	}
	if got, want := sha256.Sum256(reqs[0].Body), sha256.Sum256([]byte(body)); got != want || len(reqs[0].Body) != len(body) {
		t.Errorf("upstream body: %d bytes sha256 %x, want %d bytes %x", len(reqs[0].Body), got, len(body), want)
	}
	if ev := p.event(1); ev.Model != "gpt-4o" || ev.Outcome != stats.OutcomeOK {
		t.Errorf("record model %q outcome %s", ev.Model, ev.Outcome)
	}
}

// The client's key never reaches the upstream: the upstream key goes in the
// header style the client used. Other headers pass, hop-by-hop ones do not,
// and the query string is kept.
func TestE2E_HeadersAndKeys(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, sim.Options{Keys: []string{upKeyA}})
	cfg := testConfig([]string{up.URL()}, []string{upKeyA})
	p := startProxy(t, cfg)
	passed := map[string]string{
		"anthropic-version":           "2023-06-01",
		"anthropic-beta":              "prompt-caching-2024-07-31,tools-2024-05-16",
		"openai-beta":                 "assistants=v2",
		"x-stainless-lang":            "js",
		"x-stainless-package-version": "4.56.0",
		"x-stainless-os":              "Linux",
		"x-stainless-retry-count":     "0",
		"OpenAI-Organization":         "org-123",
		"User-Agent":                  "OpenAI/JS 4.56.0",
		"X-Custom-Trace":              "abc",
	}
	hop := map[string]string{
		"Connection":          "keep-alive, X-Hop-Secret",
		"X-Hop-Secret":        "hop",
		"Keep-Alive":          "timeout=5",
		"Proxy-Authorization": "Basic cHJveHk6c2VjcmV0",
		"Te":                  "trailers",
		"Cookie":              "llmproxy_session=abc",
	}
	cases := []struct {
		name, path, keyHeader, key, wantHeader string
		extra                                  map[string]string // more key headers the client sends
	}{
		{"bearer-openai", "/v1/chat/completions?foo=bar&x=a%20b", "Authorization", clientKey, "Authorization", nil},
		{"x-api-key-anthropic", "/v1/messages?beta=true", "x-api-key", clientKey2, "X-Api-Key", nil},
		{"bearer-anthropic", "/v1/messages", "Authorization", clientKey2, "Authorization", nil},
		{"x-api-key-openai", "/v1/chat/completions", "x-api-key", clientKey, "X-Api-Key", nil},
		{"both-headers", "/v1/messages", "Authorization", clientKey, "Authorization", map[string]string{"x-api-key": clientKey2}},
		{"stale-bearer-and-x-api-key", "/v1/messages", "x-api-key", clientKey2, "X-Api-Key", map[string]string{"Authorization": "Bearer " + clientKey + "-stale"}},
	}
	for i, tc := range cases {
		up.Push(sim.Step{Body: `{}`, Header: map[string]string{
			"X-Upstream-Id": "u1", "Keep-Alive": "timeout=99", "Proxy-Authenticate": "Basic"}})
		h := map[string]string{}
		for k, v := range tc.extra {
			h[k] = v
		}
		for k, v := range passed {
			h[k] = v
		}
		for k, v := range hop {
			h[k] = v
		}
		body := openAIBody
		if strings.HasPrefix(tc.path, "/v1/messages") {
			body = anthBody
		}
		a := p.call(request{path: tc.path, body: body, key: tc.key, keyHeader: tc.keyHeader, header: h})
		wantStatus(t, a, 200)
		if a.header.Get("X-Upstream-Id") != "u1" {
			t.Errorf("%s: upstream response header X-Upstream-Id not relayed", tc.name)
		}
		for _, k := range []string{"Keep-Alive", "Proxy-Authenticate"} {
			if v := a.header.Get(k); v != "" {
				t.Errorf("%s: hop-by-hop response header %s relayed: %q", tc.name, k, v)
			}
		}
		reqs := up.Requests()
		if len(reqs) != i+1 {
			t.Fatalf("%s: upstream has %d requests", tc.name, len(reqs))
		}
		r := reqs[i]
		if r.Path != tc.path {
			t.Errorf("%s: upstream path = %q, want %q (query kept)", tc.name, r.Path, tc.path)
		}
		if r.Key != upKeyA {
			t.Errorf("%s: upstream saw key %q, want the upstream key", tc.name, r.Key)
		}
		switch tc.wantHeader {
		case "Authorization":
			if got := r.Header.Get("Authorization"); got != "Bearer "+upKeyA {
				t.Errorf("%s: Authorization = %q", tc.name, got)
			}
			if v, ok := r.Header["X-Api-Key"]; ok {
				t.Errorf("%s: x-api-key sent too: %q", tc.name, v)
			}
		default:
			if got := r.Header.Get("X-Api-Key"); got != upKeyA {
				t.Errorf("%s: x-api-key = %q", tc.name, got)
			}
			if v, ok := r.Header["Authorization"]; ok {
				t.Errorf("%s: Authorization sent too: %q", tc.name, v)
			}
		}
		if n := len(r.Header.Values("Authorization")) + len(r.Header.Values("X-Api-Key")); n != 1 {
			t.Errorf("%s: upstream got %d key headers, want exactly one", tc.name, n)
		}
		for k, vs := range r.Header {
			for _, v := range vs {
				if strings.Contains(v, clientKey) || strings.Contains(v, clientKey2) {
					t.Errorf("%s: client key reached the upstream in %s", tc.name, k)
				}
			}
		}
		if string(r.Body) != body {
			t.Errorf("%s: body changed: %s", tc.name, r.Body)
		}
		for k, v := range passed {
			if got := r.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", tc.name, k, got, v)
			}
		}
		for k := range hop {
			if k == "Connection" {
				if got := r.Header.Get(k); strings.Contains(strings.ToLower(got), "x-hop-secret") || strings.Contains(got, "keep-alive,") {
					t.Errorf("%s: client's Connection header forwarded: %q", tc.name, got)
				}
				continue
			}
			if got, ok := r.Header[http.CanonicalHeaderKey(k)]; ok {
				t.Errorf("%s: hop-by-hop/private header %s forwarded: %q", tc.name, k, got)
			}
		}
	}
}

// No key, client's or upstream's, ever appears in the proxy's log, at debug
// level, whatever happens: accepted and refused requests, upstream errors
// that echo the key, retries. (startProxy checks the log of every test; this
// one makes a point of exercising the paths that log.)
func TestE2E_NoKeysInLogs(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, sim.Options{})
	cfg := testConfig([]string{up.URL(), closedPortURL(t)}, []string{upKeyA, upKeyB})
	p := startProxy(t, cfg)
	f := families[0]
	up.Push(
		sim.Step{Status: 401, Body: f.errorBody("invalid_request_error", "Incorrect API key provided: "+upKeyA)},
		sim.Step{Status: 429, Body: f.errorBody("rate_limit_error", "rate limit for key "+upKeyA)},
		sim.Step{Status: 500, Body: "key " + upKeyA},
	)
	p.call(f.req(f.body))
	p.call(f.req(f.body))
	p.call(f.req(f.body))
	p.call(request{path: "/v1/chat/completions", body: openAIBody, key: "wrong-" + clientKey})
	p.call(request{path: "/v1/messages", body: anthBody, key: clientKey + "x", keyHeader: "x-api-key"})
	p.call(request{path: "/v1/chat/completions", body: "not json " + clientKey})
	p.events(4)
	logs := p.logs.String()
	if !strings.Contains(logs, "level=WARN") {
		t.Errorf("expected warnings about failed requests in the log:\n%s", logs)
	}
	assertNoKeysIn(t, "proxy log", logs)
}

// An upstream error text that echoes the upstream key is redacted before it
// is relayed.
func TestE2E_UpstreamKeyRedactedFromErrors(t *testing.T) {
	t.Parallel()
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, sim.Options{})
			cfg := testConfig([]string{up.URL()}, []string{upKeyA})
			cfg.MaxRetries = 1
			p := startProxy(t, cfg)
			up.Push(sim.Step{Status: 401, Body: f.errorBody("authentication_error", "Incorrect API key provided: "+upKeyA+". You can find your API key at …")})
			a := p.call(f.req(f.body))
			wantStatus(t, a, 401)
			assertNoKeysIn(t, "relayed error body", string(a.body))
			errorMessage(t, f.name, a.body) // still a well-formed error

			// The last of several server errors, relayed, and a stream's error event.
			up.Push(sim.Step{Status: 500, Body: "a"}, sim.Step{Status: 500, Body: "bad key " + upKeyA})
			a = p.call(f.req(f.body))
			wantStatus(t, a, 500)
			assertNoKeysIn(t, "relayed 5xx body", string(a.body))

			up.Push(sim.Step{Status: 403, Body: f.errorBody("permission_error", "key "+upKeyA+" may not use this model")})
			a, _, _ = p.stream(f.req(f.streamBody))
			wantStatus(t, a, 403)
			assertNoKeysIn(t, "relayed error to a stream request", string(a.body))

			// A stream whose first event is an error echoing the key, relayed
			// when the retries run out.
			echo := sim.Step{Events: []string{f.errorEvent("overloaded_error", "Overloaded (key "+upKeyA+")")}}
			up.Push(echo, echo)
			a, _, _ = p.stream(f.req(f.streamBody))
			wantStatus(t, a, 200)
			if !strings.Contains(string(a.body), "Overloaded (key ") {
				t.Errorf("want the last first-event error relayed, got %s", a.body)
			}
			assertNoKeysIn(t, "relayed first-event error", string(a.body))
		})
	}
}

// A missing or wrong key gets 401 Permission Denied in the family's shape,
// through either header, and nothing is sent upstream. Several keys from a
// comma-separated MY_ACCESS_KEY all work.
func TestE2E_PermissionDenied(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, sim.Options{})
	env := map[string]string{
		"PROXY_URL":     up.URL(),
		"API_KEY":       upKeyA,
		"MY_ACCESS_KEY": clientKey + ", " + clientKey2 + ",third-client-key-zz",
		"DB_PATH":       "memory",
	}
	cfg, err := Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	cfg.ShutdownTimeout = 2 * time.Second
	p := startProxy(t, cfg)

	denied := []struct {
		name   string
		header map[string]string
	}{
		{"no key", nil},
		{"wrong bearer", map[string]string{"Authorization": "Bearer wrong-key"}},
		{"wrong x-api-key", map[string]string{"x-api-key": "wrong-key"}},
		{"empty bearer", map[string]string{"Authorization": "Bearer "}},
		{"basic auth", map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(clientKey+":"))}},
		{"key prefix", map[string]string{"Authorization": "Bearer " + clientKey[:len(clientKey)-1]}},
		{"two keys in one", map[string]string{"Authorization": "Bearer " + clientKey + "," + clientKey2}},
		{"upstream key", map[string]string{"x-api-key": upKeyA}},
	}
	for _, f := range families {
		for _, d := range denied {
			for _, method := range []string{http.MethodPost, http.MethodGet} {
				path := f.path
				body := f.body
				if method == http.MethodGet {
					path, body = "/v1/models", ""
					if f.name == "anthropic" {
						path = "/v1/messages/batches"
					}
				}
				a := p.call(request{method: method, path: path, body: body, keyHeader: "none", header: d.header})
				if a.status != 401 {
					t.Errorf("%s %s %s: status %d, want 401", f.name, d.name, method, a.status)
					continue
				}
				wantErrorShape(t, f, a.body, "Permission Denied")
			}
		}
	}
	wantCount(t, "upstream", up, 0)

	for i, key := range []string{clientKey, clientKey2, "third-client-key-zz"} {
		for _, f := range families {
			for _, kh := range []string{"Authorization", "x-api-key"} {
				a := p.call(request{path: f.path, body: f.body, key: key, keyHeader: kh})
				if a.status != 200 {
					t.Errorf("client key #%d via %s on %s: status %d %s", i+1, kh, f.name, a.status, a.body)
				}
			}
		}
	}
}

// A body that is not JSON gets 400 in the family's shape and is not sent upstream.
func TestE2E_NonJSONBodyRejected(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, sim.Options{})
	p := startProxy(t, testConfig([]string{up.URL()}, []string{upKeyA}))
	for _, f := range families {
		for _, body := range []string{"model=gpt-4o&stream=true", `{"model":"gpt-4o",`, `["not","an","object"]`, "\x00\x01binary"} {
			a := p.call(request{path: f.path, body: body, keyHeader: f.headerKey})
			if a.status != 400 {
				t.Errorf("%s %q: status %d, want 400", f.name, body, a.status)
				continue
			}
			wantErrorShape(t, f, a.body, "")
		}
	}
	wantCount(t, "upstream", up, 0)
	ev := p.event(1)
	if ev.Outcome != stats.OutcomeBadRequest || ev.Status != 400 || len(ev.Attempts) != 0 {
		t.Errorf("record outcome %s status %d attempts %d", ev.Outcome, ev.Status, len(ev.Attempts))
	}
}

// A body over BODY_LIMIT gets 413 in the family's shape and is not sent
// upstream, also when the client is still sending a large body as the
// proxy answers: the answer must reach it, not a connection reset.
func TestE2E_BodyOverLimit(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, sim.Options{})
	cfg := testConfig([]string{up.URL()}, []string{upKeyA})
	cfg.BodyLimit = 64 << 10
	p := startProxy(t, cfg)
	for _, f := range families {
		for _, size := range []int{65 << 10, 100 << 10, 1 << 20, 8 << 20, 8 << 20, 8 << 20, 8 << 20} {
			big := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", size) + `"}]}`
			start := time.Now()
			req, err := http.NewRequest(http.MethodPost, p.base+f.path, strings.NewReader(big))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+clientKey)
			resp, err := p.client.Do(req)
			if err != nil {
				t.Errorf("%s, %d bytes over a 64KiB limit: the client got no answer but %v", f.name, len(big), err)
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("%s %d bytes: status %d, want 413; body %.200s", f.name, len(big), resp.StatusCode, b)
				continue
			}
			wantErrorShape(t, f, b, "")
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("%s %d bytes: 413 after %v", f.name, len(big), took)
			}
		}
		// Just under the limit passes.
		ok := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 60<<10) + `"}]}`
		if a := p.call(request{path: f.path, body: ok, keyHeader: f.headerKey}); a.status != 200 {
			t.Errorf("%s: a body under the limit got %d", f.name, a.status)
		}
	}
	wantCount(t, "upstream", up, 2)
}

// GET /v1/models and the other /v1/* endpoints are passed through.
func TestE2E_OtherEndpointsPassThrough(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, sim.Options{})
	p := startProxy(t, testConfig([]string{up.URL()}, []string{upKeyA}))
	cases := []struct {
		method, path, body, keyHeader string
		status                        int
		contains                      string
	}{
		{http.MethodGet, "/v1/models", "", "Authorization", 200, `"object":"list"`},
		{http.MethodGet, "/v1/models?limit=1", "", "x-api-key", 200, `"object":"list"`},
		{http.MethodPost, "/v1/responses", `{"model":"gpt-4.1-mini","input":"hi"}`, "Authorization", 200, `"object":"response"`},
		{http.MethodPost, "/v1/embeddings", `{"model":"text-embedding-3-small","input":["a","b"]}`, "Authorization", 200, `"embedding"`},
		{http.MethodPost, "/v1/messages/count_tokens", anthBody, "x-api-key", 200, `"input_tokens"`},
		{http.MethodPost, "/v1/completions", `{"model":"gpt-3.5-turbo-instruct","prompt":"hi"}`, "Authorization", 404, `Invalid URL`},
		{http.MethodDelete, "/v1/files/file-abc", "", "Authorization", 404, `Invalid URL`},
	}
	for i, tc := range cases {
		a := p.call(request{method: tc.method, path: tc.path, body: tc.body, keyHeader: tc.keyHeader})
		if a.status != tc.status || !strings.Contains(string(a.body), tc.contains) {
			t.Errorf("%s %s: %d %.300s, want %d containing %s", tc.method, tc.path, a.status, a.body, tc.status, tc.contains)
		}
		reqs := up.Requests()
		if len(reqs) != i+1 {
			t.Fatalf("%s %s: upstream has %d requests, want %d", tc.method, tc.path, len(reqs), i+1)
		}
		if r := reqs[i]; r.Method != tc.method || r.Path != tc.path || string(r.Body) != tc.body {
			t.Errorf("%s %s: upstream got %s %s body %q", tc.method, tc.path, r.Method, r.Path, r.Body)
		}
	}
	// A streamed Responses API call is relayed as a stream, its terminal event recognised.
	up.Push(sim.Step{Events: []string{
		"event: response.created\ndata: {\"type\":\"response.created\"}\n\n",
		"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}}\n\n",
	}})
	a, _, err := p.stream(request{path: "/v1/responses", body: `{"model":"gpt-4.1","input":"hi","stream":true}`})
	if err != nil || a.status != 200 || !strings.Contains(string(a.body), "response.completed") {
		t.Fatalf("responses stream: %d %v %s", a.status, err, a.body)
	}
	evs := p.events(len(cases) + 1)
	ev := evs[len(evs)-1]
	if ev.Route != "/v1/responses" || !ev.Stream || !ev.Terminal || ev.InputTokens != 3 || ev.OutputTokens != 4 {
		t.Errorf("responses stream record = %+v", ev)
	}
	if evs[0].Route != "/v1/models" || evs[0].Method != http.MethodGet || evs[0].Outcome != stats.OutcomeOK {
		t.Errorf("models record = %+v", evs[0])
	}
}
