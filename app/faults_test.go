package app

// Fault-injection tests: a real proxy in front of upstreams that misbehave
// (Retry-After in its forms, overloads, refused connections, silence, stalls,
// malformed or huge events, flapping), plus path tricks. Scenarios from the
// hardening issue.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

const allRateLimitedMsg = "错误重试全都rate limit,请再次重试."

// retryAfterSeconds parses the Retry-After header the client got.
func retryAfterSeconds(t *testing.T, a answer) int {
	t.Helper()
	v := a.header.Get("Retry-After")
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("Retry-After = %q, want whole seconds", v)
	}
	return n
}

// 429 with Retry-After as seconds or as an HTTP date, on one target: the
// target cools down, the client gets 429 with Retry-After at once, and the
// next request does not touch the upstream.
func TestFaults_RetryAfterOneTarget(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		header func() map[string]string // evaluated when the subtest runs
	}{
		{"seconds", func() map[string]string { return map[string]string{"Retry-After": "30"} }},
		{"http-date", func() map[string]string {
			return map[string]string{"Retry-After": time.Now().Add(31 * time.Second).UTC().Format(http.TimeFormat)}
		}},
		{"retry-after-ms", func() map[string]string { return map[string]string{"retry-after-ms": "30000"} }},
	}
	for _, tc := range cases {
		for _, f := range families {
			t.Run(tc.name+"-"+f.name, func(t *testing.T) {
				t.Parallel()
				up := newUpstream(t, sim.Options{})
				cfg := testConfig([]string{up.URL()}, []string{upKeyA})
				cfg.MaxRetries = 3
				p := startProxy(t, cfg)
				up.Push(sim.Step{Status: 429, Header: tc.header(), Body: f.errorBody("rate_limit_error", "Rate limit reached")})

				for i := 1; i <= 3; i++ {
					a := p.call(f.req(f.body))
					wantStatus(t, a, 429)
					wantErrorShape(t, f, a.body, allRateLimitedMsg)
					if s := retryAfterSeconds(t, a); s < 25 || s > 31 {
						t.Errorf("request %d: Retry-After = %d, want about 30", i, s)
					}
					if a.took > time.Second {
						t.Errorf("request %d took %v: want an answer at once, not a wait", i, a.took)
					}
				}
				wantCount(t, "upstream", up, 1)
				evs := p.events(3)
				if want := []string{"rate_limit"}; !equalStrings(reasons(evs[0]), want) {
					t.Errorf("first request reasons = %v, want %v", reasons(evs[0]), want)
				}
				for _, ev := range evs {
					if ev.Outcome != stats.OutcomeRateLimited || ev.Status != 429 {
						t.Errorf("record outcome %s status %d", ev.Outcome, ev.Status)
					}
				}
				if len(evs[1].Attempts) != 0 || len(evs[2].Attempts) != 0 {
					t.Errorf("later requests made attempts: %v %v", trail(evs[1]), trail(evs[2]))
				}
			})
		}
	}
}

// A short Retry-After (within MAX_COOLDOWN_WAIT) on the only target: the
// proxy waits for it and tries again instead of failing.
func TestFaults_RetryAfterShortWaitOneTarget(t *testing.T) {
	t.Parallel()
	for _, h := range []map[string]string{{"Retry-After": "1"}, {"retry-after-ms": "800"}} {
		t.Run(fmt.Sprint(h), func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, sim.Options{})
			cfg := testConfig([]string{up.URL()}, []string{upKeyA})
			p := startProxy(t, cfg)
			f := families[0]
			up.Push(sim.Step{Status: 429, Header: h, Body: f.errorBody("rate_limit_error", "Rate limit reached")},
				sim.Step{Body: f.okBody})
			a := p.call(f.req(f.body))
			wantStatus(t, a, 200)
			if a.took < 700*time.Millisecond || a.took > 2500*time.Millisecond {
				t.Errorf("took %v, want the announced wait (~1s)", a.took)
			}
			wantCount(t, "upstream", up, 2)
			ev := p.event(1)
			if want := []string{"rate_limit", "ok"}; !equalStrings(reasons(ev), want) {
				t.Errorf("reasons = %v, want %v", reasons(ev), want)
			}
		})
	}
}

// Retry-After (seconds and date) on several targets: the cooling target is
// skipped while the others serve.
func TestFaults_RetryAfterSeveralTargets(t *testing.T) {
	t.Parallel()
	for _, form := range []string{"seconds", "http-date"} {
		t.Run(form, func(t *testing.T) {
			t.Parallel()
			ra := "45"
			if form == "http-date" {
				ra = time.Now().Add(46 * time.Second).UTC().Format(http.TimeFormat)
			}
			up := newUpstream(t, sim.Options{})
			cfg := testConfig([]string{up.URL()}, []string{upKeyA, upKeyB, upKeyC})
			cfg.TargetNames = []string{"ta", "tb", "tc"}
			p := startProxy(t, cfg)
			f := families[1]
			up.Push(sim.Step{Key: upKeyA, Status: 429, Header: map[string]string{"Retry-After": ra},
				Body: f.errorBody("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit")})
			for range 6 {
				wantStatus(t, p.call(f.req(f.body)), 200)
			}
			var nA int
			for _, r := range up.Requests() {
				if r.Key == upKeyA {
					nA++
				}
			}
			if nA != 1 {
				t.Errorf("target A got %d requests, want 1 (cooling after Retry-After)", nA)
			}
			wantCount(t, "upstream", up, 7)
			evs := p.events(6)
			if want := []string{"ta:429:rate_limit", "tb:200:ok"}; !equalStrings(trail(evs[0]), want) {
				t.Errorf("first trail = %v, want %v", trail(evs[0]), want)
			}
			for _, ev := range evs[1:] {
				if len(ev.Attempts) != 1 || ev.Attempts[0].Target == "ta" {
					t.Errorf("trail = %v, want one attempt, not on ta", trail(ev))
				}
			}
		})
	}
}

// 502, 503, 504, Anthropic's 529 overloaded_error, and a stream whose first
// event is an overload are retried on the next target.
func TestFaults_OverloadRetried(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		f      family
		stream bool
		step   sim.Step
		status int // the failed attempt's status in the trail
	}{
		{"502", families[0], false, sim.Step{Status: 502, Body: "<html>Bad Gateway</html>", Header: map[string]string{"Content-Type": "text/html"}}, 502},
		{"503", families[0], false, sim.Step{Status: 503, Body: families[0].errorBody("server_error", "The server is overloaded")}, 503},
		{"504", families[0], true, sim.Step{Status: 504, Body: "gateway timeout"}, 504},
		{"529", families[1], false, sim.Step{Status: 529, Body: sim.AnthropicError("overloaded_error", "Overloaded")}, 529},
		{"529-stream", families[1], true, sim.Step{Status: 529, Body: sim.AnthropicError("overloaded_error", "Overloaded")}, 529},
		{"first-event-overloaded", families[1], true, sim.Step{Events: []string{sim.AnthropicErrorEvent("overloaded_error", "Overloaded")}}, 200},
		{"first-event-server-error", families[0], true, sim.Step{Events: []string{sim.OpenAIErrorEvent("server_error", "The server had an error while processing your request")}}, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, sim.Options{})
			cfg := testConfig([]string{up.URL()}, []string{upKeyA, upKeyB})
			cfg.TargetNames = []string{"ta", "tb"}
			p := startProxy(t, cfg)
			good := tc.f.stream(words(2), 2, 2)
			okStep, body, want := sim.Step{Body: tc.f.okBody}, tc.f.body, tc.f.okBody
			if tc.stream {
				okStep, body, want = sim.Step{Events: good}, tc.f.streamBody, concat(good)
			}
			up.Push(tc.step, okStep)
			a := p.call(tc.f.req(body))
			wantStatus(t, a, 200)
			if string(a.body) != want {
				t.Errorf("body = %s, want %s", a.body, want)
			}
			wantCount(t, "upstream", up, 2)
			ev := p.event(1)
			if want := []string{fmt.Sprintf("ta:%d:server_error", tc.status), "tb:200:ok"}; !equalStrings(trail(ev), want) {
				t.Errorf("trail = %v, want %v", trail(ev), want)
			}
			if ev.Outcome != stats.OutcomeOK || ev.RateLimits != 0 {
				t.Errorf("record outcome %s rate_limits %d", ev.Outcome, ev.RateLimits)
			}
		})
	}
}

// A target whose port is closed is skipped for the next one; when nothing
// answers at all the client gets 502 in the family's shape.
func TestFaults_ConnectionRefused(t *testing.T) {
	t.Parallel()
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, sim.Options{})
			dead := closedPortURL(t)
			cfg := testConfig([]string{dead, up.URL()}, []string{upKeyA, upKeyB})
			cfg.TargetNames = []string{"dead", "live"}
			p := startProxy(t, cfg)
			for _, body := range []string{f.body, f.streamBody} {
				a := p.call(f.req(body))
				wantStatus(t, a, 200)
			}
			evs := p.events(2)
			// The first request starts on "dead"; the second starts on "live".
			if want := []string{"dead:0:connect_error", "live:200:ok"}; !equalStrings(trail(evs[0]), want) {
				t.Errorf("trail = %v, want %v", trail(evs[0]), want)
			}
			if ev := evs[1]; ev.Outcome != stats.OutcomeOK || ev.Target != "live" {
				t.Errorf("second record outcome %s target %q", ev.Outcome, ev.Target)
			}
			wantCount(t, "live upstream", up, 2)

			// Every target refused.
			cfg2 := testConfig([]string{closedPortURL(t), closedPortURL(t)}, []string{upKeyA, upKeyB})
			cfg2.MaxRetries = 3
			p2 := startProxy(t, cfg2)
			a := p2.call(f.req(f.body))
			wantStatus(t, a, 502)
			wantErrorShape(t, f, a.body, "")
			ev := p2.event(1)
			if want := []string{"connect_error", "connect_error", "connect_error", "connect_error"}; !equalStrings(reasons(ev), want) {
				t.Errorf("reasons = %v, want %v", reasons(ev), want)
			}
			if ev.Outcome != stats.OutcomeUnreachable || ev.Status != 502 {
				t.Errorf("record outcome %s status %d", ev.Outcome, ev.Status)
			}
		})
	}
}

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
				upA := newUpstream(t, sim.Options{})
				upB := newUpstream(t, sim.Options{})
				cfg := testConfig([]string{upA.URL(), upB.URL()}, []string{upKeyA, upKeyB})
				cfg.TargetNames = []string{"A", "B"}
				cfg.ResponseTimeout = time.Second
				cfg.StreamFirstByteTimeout = time.Second
				p := startProxy(t, cfg)
				upA.Push(tc.step)
				body := f.body
				if tc.stream {
					body = f.streamBody
				}
				a := p.call(f.req(body))
				wantStatus(t, a, http.StatusGatewayTimeout)
				wantErrorShape(t, f, a.body, "")
				if a.took < 900*time.Millisecond || a.took > 3*time.Second {
					t.Errorf("504 after %v, want after the configured 1s", a.took)
				}
				waitGone(t, upA, 2*time.Second) // the proxy hung up on it
				wantCount(t, "silent upstream", upA, 1)
				wantCount(t, "other upstream", upB, 0)
				ev := p.event(1)
				if want := []string{"A:0:timeout"}; !equalStrings(trail(ev), want) {
					t.Errorf("trail = %v, want %v", trail(ev), want)
				}
				if ev.Outcome != stats.OutcomeTimeout || ev.Status != 504 {
					t.Errorf("record outcome %s status %d", ev.Outcome, ev.Status)
				}
			})
		}
	}
}

// A slow first token within the limit is no timeout; a stream that lasts
// longer than the first-byte timeout is not cut by it; pauses shorter than
// the idle timeout do not cut a stream.
func TestFaults_SlowButWithinLimits(t *testing.T) {
	t.Parallel()
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, sim.Options{})
			cfg := testConfig([]string{up.URL()}, []string{upKeyA, upKeyB})
			cfg.StreamFirstByteTimeout = 3 * time.Second
			cfg.ResponseTimeout = 3 * time.Second
			cfg.StreamIdleTimeout = time.Second
			cfg.KeepAliveInterval = 300 * time.Millisecond
			p := startProxy(t, cfg)

			// First event after 1.5s (headers at once).
			evs := f.stream(words(3), 3, 3)
			up.Push(sim.Step{Events: evs, FirstDelay: 1500 * time.Millisecond})
			a, got, err := p.stream(f.req(f.streamBody))
			if err != nil {
				t.Fatalf("reading: %v", err)
			}
			wantStatus(t, a, 200)
			if string(a.body) != concat(evs) {
				t.Errorf("slow first token: stream\n%s\nwant\n%s", a.body, concat(evs))
			}
			if got[0].at < 1400*time.Millisecond {
				t.Errorf("first event after %v: the step's delay did not apply", got[0].at)
			}
			// Non-stream answer after 1.5s.
			up.Push(sim.Step{Body: f.okBody, HeaderDelay: 1500 * time.Millisecond})
			b := p.call(f.req(f.body))
			wantStatus(t, b, 200)

			// Stream running 2.8s in total with a 700ms pause each time:
			// beyond the 1s first-byte timeout but never idle for 1s.
			cfg2 := cfg
			cfg2.StreamFirstByteTimeout = time.Second
			p2 := startProxy(t, cfg2)
			long := f.stream(words(1), 1, 1)
			n := len(long)
			chunks := []string{concat(long[:2]), concat(long[2 : n-2]), long[n-2], long[n-1]}
			up.Push(sim.Step{Events: chunks, Interval: 700 * time.Millisecond})
			c, _, err := p2.stream(f.req(f.streamBody))
			if err != nil {
				t.Fatalf("reading long stream: %v", err)
			}
			wantStatus(t, c, 200)
			var data strings.Builder
			for _, e := range dataEvents(splitEvents(string(c.body))) {
				data.WriteString(e.raw)
			}
			if data.String() != concat(long) {
				t.Errorf("long stream cut or changed:\n%s\nwant\n%s", c.body, concat(long))
			}
			for i, ev := range append(p.events(2), p2.event(1)) {
				if ev.Outcome != stats.OutcomeOK || len(ev.Attempts) != 1 {
					t.Errorf("record %d: outcome %s trail %v", i, ev.Outcome, trail(ev))
				}
			}
		})
	}
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

// A stream that stalls: after the idle timeout the client gets an error
// event in the family's shape and the stream ends; the upstream connection is
// closed; the record says stream_broken.
func TestFaults_StreamStall(t *testing.T) {
	t.Parallel()
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, sim.Options{})
			cfg := testConfig([]string{up.URL()}, []string{upKeyA, upKeyB})
			cfg.StreamIdleTimeout = time.Second
			cfg.KeepAliveInterval = 200 * time.Millisecond
			p := startProxy(t, cfg)
			evs := f.stream(words(4), 4, 4)
			sent := evs[:4]
			up.Push(sim.Step{Events: sent, Fault: sim.FaultStall})

			a, got, err := p.stream(f.req(f.streamBody))
			if err != nil {
				t.Fatalf("the stream should end with an error event, got read error %v", err)
			}
			wantStatus(t, a, 200)
			data := dataEvents(got)
			if len(data) != len(sent)+1 {
				t.Fatalf("got %d data events, want %d sent + 1 error event:\n%s", len(data), len(sent), a.body)
			}
			var relayed strings.Builder
			for _, e := range data[:len(sent)] {
				relayed.WriteString(e.raw)
			}
			if relayed.String() != concat(sent) {
				t.Errorf("relayed events differ:\n%s\nwant\n%s", relayed.String(), concat(sent))
			}
			last := data[len(data)-1]
			checkStreamErrorEvent(t, f, last.raw)
			lastData := data[len(sent)-1].at
			if idle := last.at - lastData; idle < 900*time.Millisecond || idle > 2500*time.Millisecond {
				t.Errorf("error event %v after the last data, want the 1s idle timeout", idle)
			}
			if strings.Contains(string(a.body), "[DONE]") || strings.Contains(string(a.body), "message_stop") {
				t.Errorf("terminal marker invented: %s", a.body)
			}
			waitGone(t, up, 2*time.Second)
			wantCount(t, "upstream", up, 1)
			ev := p.event(1)
			if ev.Outcome != stats.OutcomeStreamBroken || ev.Terminal || ev.Error == "" {
				t.Errorf("record outcome %s terminal %v error %q", ev.Outcome, ev.Terminal, ev.Error)
			}
		})
	}
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
				up := newUpstream(t, sim.Options{})
				p := startProxy(t, testConfig([]string{up.URL()}, []string{upKeyA}))
				good := f.stream(words(3), 6, 3)
				var evs []string
				if where == "first" {
					evs = append(append(evs, bad...), good...)
				} else {
					evs = append(append(append(evs, good[:3]...), bad...), good[3:]...)
				}
				up.Push(sim.Step{Events: evs})
				a, _, err := p.stream(f.req(f.streamBody))
				if err != nil {
					t.Fatalf("reading: %v", err)
				}
				wantStatus(t, a, 200)
				if string(a.body) != concat(evs) {
					t.Errorf("stream changed:\n%q\nwant\n%q", a.body, concat(evs))
				}
				wantCount(t, "upstream", up, 1)
				ev := p.event(1)
				if ev.Outcome != stats.OutcomeOK || !ev.Terminal || ev.InputTokens != 6 || ev.OutputTokens != 3 {
					t.Errorf("record outcome %s terminal %v tokens %d/%d", ev.Outcome, ev.Terminal, ev.InputTokens, ev.OutputTokens)
				}
			})
		}
	}
}

// A stream that ends cleanly at the HTTP level without its terminal marker is
// relayed as it is (no error event added), its usage counted, and recorded
// ok with terminal=false.
func TestFaults_StreamWithoutTerminalMarker(t *testing.T) {
	t.Parallel()
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, sim.Options{})
			p := startProxy(t, testConfig([]string{up.URL()}, []string{upKeyA}))
			full := f.stream(words(3), 8, 3)
			evs := full[:len(full)-1] // everything but [DONE] / message_stop
			up.Push(sim.Step{Events: evs})
			a, _, err := p.stream(f.req(f.streamBody))
			if err != nil {
				t.Fatalf("reading: %v", err)
			}
			wantStatus(t, a, 200)
			if string(a.body) != concat(evs) {
				t.Errorf("stream:\n%s\nwant exactly\n%s", a.body, concat(evs))
			}
			ev := p.event(1)
			if ev.Outcome != stats.OutcomeOK || ev.Terminal || ev.InputTokens != 8 || ev.OutputTokens != 3 || ev.Status != 200 {
				t.Errorf("record outcome %s terminal %v tokens %d/%d status %d, want ok false 8/3 200",
					ev.Outcome, ev.Terminal, ev.InputTokens, ev.OutputTokens, ev.Status)
			}
		})
	}
}

// A 400 context-length error is relayed at once, never retried, for plain and
// streaming requests.
func TestFaults_ContextLengthNotRetried(t *testing.T) {
	t.Parallel()
	bodies := map[string]string{
		"openai":    `{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
		"anthropic": sim.AnthropicError("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
	}
	for _, f := range families {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s-stream=%v", f.name, stream), func(t *testing.T) {
				t.Parallel()
				up := newUpstream(t, sim.Options{})
				p := startProxy(t, testConfig([]string{up.URL()}, []string{upKeyA, upKeyB}))
				up.Push(sim.Step{Status: 400, Body: bodies[f.name]}, sim.Step{Body: f.okBody})
				body := f.body
				if stream {
					body = f.streamBody
				}
				a := p.call(f.req(body))
				wantStatus(t, a, 400)
				if string(a.body) != bodies[f.name] {
					t.Errorf("body = %s", a.body)
				}
				if ct := a.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q", ct)
				}
				wantCount(t, "upstream", up, 1)
				ev := p.event(1)
				if want := []string{"client_error"}; !equalStrings(reasons(ev), want) || ev.Outcome != stats.OutcomeUpstreamError {
					t.Errorf("record reasons %v outcome %s", reasons(ev), ev.Outcome)
				}
			})
		}
	}
}

// A flapping target (alternating success and 503) next to a stable one:
// every client request succeeds; each 503 costs exactly one retry.
func TestFaults_FlappingTarget(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, sim.Options{})
	cfg := testConfig([]string{up.URL()}, []string{upKeyA, upKeyB})
	cfg.TargetNames = []string{"flappy", "stable"}
	p := startProxy(t, cfg)
	f := families[0]
	for range 10 {
		up.Push(sim.Step{Key: upKeyA, Status: 503, Body: f.errorBody("server_error", "Service Unavailable")},
			sim.Step{Key: upKeyA, Body: f.okBody})
	}
	const n = 12
	for i := range n {
		body := f.body
		if i%3 == 0 {
			body = f.streamBody
		}
		a := p.call(f.req(body))
		wantStatus(t, a, 200)
	}
	evs := p.events(n)
	var flappyTries, failures, attempts int
	for _, ev := range evs {
		attempts += len(ev.Attempts)
		if ev.Outcome != stats.OutcomeOK {
			t.Errorf("record outcome %s trail %v", ev.Outcome, trail(ev))
		}
		for i, a := range ev.Attempts {
			if a.Target == "flappy" {
				flappyTries++
			}
			if a.Reason == "server_error" {
				failures++
				if a.Target != "flappy" || a.Status != 503 || i != 0 || len(ev.Attempts) != 2 || ev.Attempts[1].Target != "stable" {
					t.Errorf("trail %v: want a 503 on flappy, then stable", trail(ev))
				}
			}
		}
	}
	if flappyTries < n/2-1 {
		t.Errorf("flappy tried %d times in %d requests: it should stay in rotation (no Retry-After)", flappyTries, n)
	}
	if failures != (flappyTries+1)/2 {
		t.Errorf("%d server errors for %d tries of the flapping target, want every other one", failures, flappyTries)
	}
	if attempts != n+failures || up.Count() != attempts {
		t.Errorf("attempts %d, upstream requests %d, want %d", attempts, up.Count(), n+failures)
	}
	for _, ts := range p.app.Recorder().Snapshot().Targets {
		if ts.State != "ok" {
			t.Errorf("target %s state %s, want ok (a 503 without Retry-After does not cool)", ts.Name, ts.State)
		}
	}
}

// Every target cooling for long: 429 with Retry-After at once, without
// touching any upstream again. Cooling within the wait bound: the proxy waits.
func TestFaults_AllTargetsCooling(t *testing.T) {
	t.Parallel()
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			upA := newUpstream(t, sim.Options{})
			upB := newUpstream(t, sim.Options{})
			p := startProxy(t, testConfig([]string{upA.URL(), upB.URL()}, []string{upKeyA, upKeyB}))
			upA.Push(sim.Step{Status: 429, Header: map[string]string{"Retry-After": "60"}, Body: f.errorBody("rate_limit_error", "slow down")})
			upB.Push(sim.Step{Status: 429, Header: map[string]string{"Retry-After": "90"}, Body: f.errorBody("rate_limit_error", "slow down")})
			for i := range 6 {
				body := f.body
				if i%2 == 1 {
					body = f.streamBody
				}
				a := p.call(f.req(body))
				wantStatus(t, a, 429)
				wantErrorShape(t, f, a.body, allRateLimitedMsg)
				if s := retryAfterSeconds(t, a); s < 55 || s > 61 {
					t.Errorf("request %d: Retry-After = %d, want ~60 (the soonest target)", i, s)
				}
				if a.took > time.Second {
					t.Errorf("request %d took %v, want at once", i, a.took)
				}
			}
			wantCount(t, "A", upA, 1)
			wantCount(t, "B", upB, 1)
			evs := p.events(6)
			if len(evs[0].Attempts) != 2 || evs[0].RateLimits != 2 {
				t.Errorf("first trail %v", trail(evs[0]))
			}
			for _, ev := range evs {
				if ev.Outcome != stats.OutcomeRateLimited {
					t.Errorf("outcome %s", ev.Outcome)
				}
			}
			var cooling int
			for _, ts := range p.app.Recorder().Snapshot().Targets {
				if ts.State == "cooling" {
					cooling++
				}
			}
			if cooling != 2 {
				t.Errorf("%d targets shown cooling, want 2", cooling)
			}
		})
	}
	t.Run("within-wait-bound", func(t *testing.T) {
		t.Parallel()
		up := newUpstream(t, sim.Options{})
		p := startProxy(t, testConfig([]string{up.URL()}, []string{upKeyA, upKeyB}))
		f := families[0]
		rl := func(ra string) sim.Step {
			return sim.Step{Status: 429, Header: map[string]string{"Retry-After": ra}, Body: f.errorBody("rate_limit_error", "slow down")}
		}
		up.Push(rl("1"), rl("2"), sim.Step{Body: f.okBody})
		a := p.call(f.req(f.body))
		wantStatus(t, a, 200)
		if a.took < 700*time.Millisecond || a.took > 2500*time.Millisecond {
			t.Errorf("took %v, want a wait of ~1s for the soonest target", a.took)
		}
		wantCount(t, "upstream", up, 3)
		ev := p.event(1)
		if want := []string{"rate_limit", "rate_limit", "ok"}; !equalStrings(reasons(ev), want) || ev.Attempts[2].Target != ev.Attempts[0].Target {
			t.Errorf("trail %v, want the soonest target (the first) again", trail(ev))
		}
	})
}

// MAX_RETRIES=0: exactly one attempt, whatever happens.
func TestFaults_MaxRetriesZero(t *testing.T) {
	t.Parallel()
	f := families[0]
	cases := []struct {
		name   string
		step   sim.Step
		body   string
		status int
	}{
		{"429", sim.Step{Status: 429, Body: f.errorBody("rate_limit_error", "Rate limit reached")}, f.body, 429},
		{"500", sim.Step{Status: 500, Body: "boom"}, f.body, 500},
		{"reset", sim.Step{Fault: sim.FaultReset}, f.body, 502},
		{"first-event-rate-limit", sim.Step{Events: []string{f.errorEvent("rate_limit_error", "Rate limit reached")}}, f.streamBody, 429},
		{"ok", sim.Step{Body: f.okBody}, f.body, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, sim.Options{})
			cfg := testConfig([]string{up.URL()}, []string{upKeyA, upKeyB, upKeyC})
			cfg.MaxRetries = 0
			p := startProxy(t, cfg)
			up.Push(tc.step, sim.Step{Body: f.okBody})
			a := p.call(f.req(tc.body))
			wantStatus(t, a, tc.status)
			switch tc.status {
			case 429:
				wantErrorShape(t, f, a.body, allRateLimitedMsg)
			case 500:
				if string(a.body) != "boom" {
					t.Errorf("body = %q", a.body)
				}
			case 502:
				wantErrorShape(t, f, a.body, "")
			}
			wantCount(t, "upstream", up, 1)
			if ev := p.event(1); len(ev.Attempts) != 1 {
				t.Errorf("trail = %v, want one attempt", trail(ev))
			}
		})
	}
}

// A single SSE event larger than 1 MiB is relayed intact, first or in the middle.
func TestFaults_HugeSSEEvent(t *testing.T) {
	t.Parallel()
	for _, f := range families {
		for _, where := range []string{"first", "middle"} {
			t.Run(f.name+"-"+where, func(t *testing.T) {
				t.Parallel()
				up := newUpstream(t, sim.Options{})
				p := startProxy(t, testConfig([]string{up.URL()}, []string{upKeyA}))
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
				a, got, err := p.stream(f.req(f.streamBody))
				if err != nil {
					t.Fatalf("reading: %v", err)
				}
				wantStatus(t, a, 200)
				if string(a.body) != concat(evs) {
					t.Fatalf("stream changed: got %d bytes, want %d", len(a.body), len(concat(evs)))
				}
				if len(got) != len(evs) {
					t.Errorf("got %d events, want %d", len(got), len(evs))
				}
				ev := p.event(1)
				if ev.Outcome != stats.OutcomeOK || !ev.Terminal || ev.InputTokens != 4 || ev.OutputTokens != 2 {
					t.Errorf("record outcome %s terminal %v tokens %d/%d", ev.Outcome, ev.Terminal, ev.InputTokens, ev.OutputTokens)
				}
			})
		}
	}
}

// rawRequest sends a request line exactly as given (no client-side path
// cleaning) and returns the status and body.
func rawRequest(t *testing.T, base, target string) (int, string) {
	t.Helper()
	u, _ := url.Parse(base)
	c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	body := openAIBody
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		target, u.Host, clientKey, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s: reading the answer: %v", target, err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, sb.String()
}

// Path tricks never reach outside the upstream's base path: whatever the
// client sends, the upstream sees a path under /v1/ with no dot segment,
// even after it decodes it.
func TestFaults_PathTricks(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, sim.Options{})
	p := startProxy(t, testConfig([]string{up.URL()}, []string{upKeyA}))
	targets := []string{
		"/v1/../api/stats",
		"/v1/../../etc/passwd",
		"/v1/%2e%2e/x",
		"/v1/%2E%2E/api/stats",
		"/v1/%252e%252e/x",
		"/v1/%252e%252e/%252e%252e/x",
		"/v1/a/%2e%2e/%2e%2e/x",
		"/v1/..%2fapi%2fstats",
		"/v1/..%252f..%252fx",
		"/v1/chat%2fcompletions",
		"/v1%2f..%2fapi%2fstats",
		"/v1//../x",
		"/v1/./models",
		"/v1/models/..%5c..%5cx",
		"/v1/.%2e/x",
		"/v1/%2e./x",
	}
	for _, target := range targets {
		before := up.Count()
		status, body := rawRequest(t, p.base, target)
		t.Logf("%-32s -> %d (upstream requests +%d) %.120s", target, status, up.Count()-before, body)
		if status == 0 {
			t.Errorf("%s: no answer", target)
		}
	}
	for _, r := range up.Requests() {
		rawPath, _, _ := strings.Cut(r.Path, "?")
		decoded, err := url.PathUnescape(rawPath)
		if err != nil {
			t.Errorf("upstream got an undecodable path %q", r.Path)
			continue
		}
		if !strings.HasPrefix(decoded, "/v1/") {
			t.Errorf("upstream got %q (decoded %q): outside /v1/", r.Path, decoded)
		}
		for _, seg := range strings.Split(decoded, "/") {
			if seg == ".." || seg == "." {
				t.Errorf("upstream got %q (decoded %q): a dot segment that steps outside once decoded", r.Path, decoded)
			}
		}
		if c := path.Clean(decoded); !strings.HasPrefix(c, "/v1/") && c != "/v1" {
			t.Errorf("upstream got %q, which cleans to %q", r.Path, c)
		}
		// Some servers treat a backslash as a path separator.
		if c := path.Clean(strings.ReplaceAll(decoded, `\`, "/")); !strings.HasPrefix(c, "/v1/") {
			t.Errorf("upstream got %q, which a server that reads \\ as / cleans to %q", r.Path, c)
		}
	}
}

// Upstream connections are kept alive between requests, and one that was
// left half-read (a stream abandoned after its first event) is never reused.
func TestFaults_UpstreamConnectionReuse(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, sim.Options{})
	p := startProxy(t, testConfig([]string{up.URL()}, []string{upKeyA}))
	f := families[0]
	for i := range 4 {
		body := f.body
		if i%2 == 1 {
			body = f.streamBody
		}
		wantStatus(t, p.call(f.req(body)), 200)
	}
	if n := up.ConnsOpened(); n != 1 {
		t.Errorf("4 sequential requests opened %d upstream connections, want 1 (keep-alive)", n)
	}
	// A rate-limited first event: the rest of that stream is never read, so
	// its connection must be closed, not pooled; the retry uses a new one.
	up.Push(sim.Step{Events: []string{f.errorEvent("rate_limit_error", "Rate limit reached"), "data: rest\n\n"}, Interval: 50 * time.Millisecond},
		sim.Step{Events: f.stream(words(2), 2, 2)})
	a, _, err := p.stream(f.req(f.streamBody))
	if err != nil || a.status != 200 {
		t.Fatalf("retried stream: %d %v", a.status, err)
	}
	wantStatus(t, p.call(f.req(f.body)), 200)
	reqs := up.Requests()
	if len(reqs) != 7 {
		t.Fatalf("upstream got %d requests, want 7", len(reqs))
	}
	if reqs[4].Conn == reqs[5].Conn || reqs[4].Conn == reqs[6].Conn {
		t.Errorf("the half-read connection #%d was reused (next requests on #%d, #%d)", reqs[4].Conn, reqs[5].Conn, reqs[6].Conn)
	}
	if reqs[5].Conn != reqs[6].Conn {
		t.Errorf("a fully read stream's connection #%d was not reused (next on #%d)", reqs[5].Conn, reqs[6].Conn)
	}
}

// With one connection per target, every way a request can end — retried
// first event, cut stream, stall, client abort, timeout, error answers —
// gives its connection back: a request after them all is served at once.
func TestFaults_NoConnectionSlotLeak(t *testing.T) {
	t.Parallel()
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, sim.Options{})
			cfg := testConfig([]string{up.URL()}, []string{upKeyA})
			cfg.MaxConnsPerTarget = 1
			cfg.ConnectTimeout = 500 * time.Millisecond
			cfg.StreamIdleTimeout = 500 * time.Millisecond
			cfg.StreamFirstByteTimeout = 500 * time.Millisecond
			cfg.ResponseTimeout = 500 * time.Millisecond
			cfg.KeepAliveInterval = 100 * time.Millisecond
			cfg.MaxRetries = 1
			p := startProxy(t, cfg)
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
					if _, err := resp.Body.Read(buf); err != nil {
						t.Fatalf("%s: %v", st.name, err)
					}
					resp.Body.Close()
					waitGone(t, up, 2*time.Second)
					continue
				}
				a := p.call(f.req(st.body))
				if a.status != st.status {
					t.Errorf("%s: status %d, want %d: %.200s", st.name, a.status, st.status, a.body)
				}
				if up.Pending() != 0 {
					t.Errorf("%s: %d scripted steps left", st.name, up.Pending())
					return
				}
			}
			// Every slot must be free again now.
			for i := range 3 {
				a := p.call(f.req(f.body))
				if a.status != 200 || a.took > 400*time.Millisecond {
					t.Errorf("request %d after the faults: %d after %v (a leaked connection slot?) %.200s", i, a.status, a.took, a.body)
				}
			}
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
			up := newUpstream(t, sim.Options{})
			cfg := testConfig([]string{up.URL()}, []string{upKeyA, upKeyB})
			p := startProxy(t, cfg)
			up.Push(sim.Step{Fault: sim.FaultHang})

			ctx, cancel := context.WithCancel(context.Background())
			body := f.body
			if stream {
				body = f.streamBody
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+f.path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+clientKey)
			done := make(chan struct{})
			go func() {
				defer close(done)
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
					t.Errorf("got an answer (%d) from a hung upstream", resp.StatusCode)
				}
			}()
			time.Sleep(300 * time.Millisecond) // the proxy is waiting on the hung upstream
			cancel()
			<-done
			if took := waitGone(t, up, 2*time.Second); took > 1500*time.Millisecond {
				t.Errorf("upstream saw the cancel after %v", took)
			}
			ev := p.event(1)
			if ev.Outcome != stats.OutcomeClientGone || ev.Status != 499 {
				t.Errorf("record outcome %s status %d, want client_gone 499", ev.Outcome, ev.Status)
			}
			if got := trail(ev); len(got) != 1 {
				t.Errorf("attempts %v, want exactly one", got)
			}
			wantCount(t, "upstream requests", up, 1)
		})
	}
}
