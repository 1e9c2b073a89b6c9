package app

// Retries: rate limits, server errors, dropped connections and client
// errors, and how many attempts each costs. A real proxy in front of the
// simulated upstream (see helpers_test.go).

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// Two rate limits, then an answer: the client sees only the answer, after
// exactly three attempts on three different targets.
func TestE2E_RateLimitRetriedUntilSuccess(t *testing.T) {
	t.Parallel()
	eachFamily(t, func(t *testing.T, f family) {
		up, p := setup(t, 3)
		rl := sim.Step{Status: http.StatusTooManyRequests, Body: f.errorBody("rate_limit_error", "Rate limit reached")}
		up.Push(rl, rl, sim.Step{Body: f.okBody, Header: map[string]string{"X-Upstream-Marker": "third"}})

		a := p.call(f.req(f.body))
		wantStatus(t, a, http.StatusOK)
		assert.Equal(t, f.okBody, string(a.body), "want the third answer")
		assert.Equal(t, "third", a.header.Get("X-Upstream-Marker"), "want the third answer's headers")
		wantCount(t, "upstream", up, 3)
		var keys []string
		for _, r := range up.Requests() {
			keys = append(keys, r.Key)
		}
		assert.Equal(t, []string{upKeyA, upKeyB, upKeyC}, keys, "upstream keys in order: every target once")

		ev := p.event(1)
		assert.Equal(t, []string{"ta:429:rate_limit", "tb:429:rate_limit", "tc:200:ok"}, trail(ev))
		assert.Equal(t, stats.OutcomeOK, ev.Outcome)
		assert.Equal(t, 200, ev.Status)
		assert.Equal(t, "tc", ev.Target)
		assert.Equal(t, 2, ev.RateLimits)
		assert.Equal(t, 11, ev.InputTokens)
		assert.Equal(t, 7, ev.OutputTokens)
		assert.Equal(t, f.path, ev.Route)
		assert.Equal(t, stats.Family(f.name), ev.Family)
		assert.False(t, ev.Stream)
		tot := p.app.Recorder().Snapshot().Totals
		assert.EqualValues(t, 1, tot.Successes, "totals %+v", tot)
		assert.EqualValues(t, 2, tot.RateLimits, "totals %+v", tot)
		assert.EqualValues(t, 2, tot.Retries, "totals %+v", tot)
	})
}

// Every attempt rate limited: 429 with the fixed message in the family's
// shape after exactly MAX_RETRIES+1 attempts. The rate limits come as 429s
// and as other statuses whose body speaks of a rate limit.
func TestE2E_AllRateLimited(t *testing.T) {
	t.Parallel()
	eachFamily(t, func(t *testing.T, f family) {
		up, p := setup(t, 2, func(c *Config) { c.MaxRetries = 3 })
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
		wantErrorShape(t, f, a.body, allRateLimitedMsg)
		assert.True(t, strings.HasPrefix(a.header.Get("Content-Type"), "application/json"), "Content-Type = %q", a.header.Get("Content-Type"))
		assert.Empty(t, a.header.Get("Retry-After"), "no target announced one")
		wantCount(t, "upstream", up, 4)
		assert.Equal(t, 2, up.Pending(), "pending steps")
		ev := p.event(1)
		assert.Equal(t, []string{"ta:429:rate_limit", "tb:403:rate_limit", "ta:429:rate_limit", "tb:503:rate_limit"}, trail(ev))
		assert.Equal(t, stats.OutcomeRateLimited, ev.Outcome)
		assert.Equal(t, 429, ev.Status)
		assert.Equal(t, 4, ev.RateLimits)
		assert.Empty(t, ev.Target)
	})
}

// A 200 stream whose first event is a rate-limit error is retried; the
// client sees only the next target's stream.
func TestE2E_StreamFirstEventRateLimitRetried(t *testing.T) {
	t.Parallel()
	eachFamily(t, func(t *testing.T, f family) {
		up, p := setup(t, 3)
		good := f.stream(words(3), 5, 3)
		up.Push(
			sim.Step{Events: []string{f.errorEvent("rate_limit_error", "Rate limit reached for requests")}},
			// a leading comment does not hide the error event
			sim.Step{Events: []string{": PROCESSING\n\n", f.errorEvent("rate_limit_error", "rate_limit_exceeded"), "data: never relayed\n\n"}},
			sim.Step{Events: good},
		)
		a, evs := p.streamOK(f.req(f.streamBody))
		wantStatus(t, a, http.StatusOK)
		assert.True(t, strings.HasPrefix(a.header.Get("Content-Type"), "text/event-stream"), "Content-Type = %q", a.header.Get("Content-Type"))
		assert.Equal(t, concat(good), string(a.body), "the third target's stream only")
		assert.Len(t, evs, len(good))
		wantCount(t, "upstream", up, 3)
		ev := p.event(1)
		assert.Equal(t, []string{"ta:200:rate_limit", "tb:200:rate_limit", "tc:200:ok"}, trail(ev))
		assert.Equal(t, stats.OutcomeOK, ev.Outcome)
		assert.True(t, ev.Stream)
		assert.True(t, ev.Terminal)
		assert.Equal(t, 2, ev.RateLimits)
		assert.Equal(t, "tc", ev.Target)
		assert.Equal(t, 5, ev.InputTokens)
		assert.Equal(t, 3, ev.OutputTokens)
	})
}

// A 500, then an answer.
func TestE2E_ServerErrorThenSuccess(t *testing.T) {
	t.Parallel()
	eachFamily(t, func(t *testing.T, f family) {
		up, p := setup(t, 2)
		up.Push(sim.Step{Status: 500, Body: f.errorBody("server_error", "internal")}, sim.Step{Body: f.okBody})

		a := p.call(f.req(f.body))
		wantStatus(t, a, http.StatusOK)
		assert.Equal(t, f.okBody, string(a.body))
		wantCount(t, "upstream", up, 2)
		ev := p.event(1)
		assert.Equal(t, []string{"ta:500:server_error", "tb:200:ok"}, trail(ev))
		assert.Equal(t, stats.OutcomeOK, ev.Outcome)
		assert.Zero(t, ev.RateLimits)
	})
}

// When every attempt gets a 5xx, the last one is relayed byte for byte:
// status, content type, other headers, body.
func TestE2E_AllServerErrorsRelayLast(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		f      family
		stream bool
	}{
		{"openai", families[0], false},
		{"anthropic", families[1], false},
		{"openai-stream", families[0], true},
		{"anthropic-stream", families[1], true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up, p := setup(t, 2, func(c *Config) { c.MaxRetries = 2 })
			lastBody := "<html><body>502 Bad Gateway — nginx ünïcode\x01</body></html>\n"
			up.Push(
				sim.Step{Status: 500, Body: tc.f.errorBody("server_error", "first")},
				sim.Step{Status: 503, Body: tc.f.errorBody("api_error", "second"), Header: map[string]string{"X-Attempt": "2"}},
				sim.Step{Status: 502, Body: lastBody, Header: map[string]string{
					"Content-Type": "text/html; charset=utf-8", "X-Attempt": "3"}},
			)
			a := p.call(tc.f.req(tc.f.bodyFor(tc.stream)))
			wantStatus(t, a, 502)
			assert.Equal(t, lastBody, string(a.body), "want the last answer")
			assert.Equal(t, "text/html; charset=utf-8", a.header.Get("Content-Type"), "want the last answer's")
			assert.Equal(t, "3", a.header.Get("X-Attempt"), "want the last answer's headers")
			wantCount(t, "upstream", up, 3)
			ev := p.event(1)
			assert.Equal(t, []string{"server_error", "server_error", "server_error"}, reasons(ev))
			assert.Equal(t, stats.OutcomeUpstreamError, ev.Outcome)
			assert.Equal(t, 502, ev.Status)
			assert.NotEmpty(t, ev.Target)
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
				up, p := setup(t, 2)
				body := f.errorBody("invalid_request_error", fmt.Sprintf("upstream says %d", status))
				up.Push(
					sim.Step{Status: status, Body: body, Header: map[string]string{
						"Content-Type": "application/json; charset=utf-8", "X-Request-Id": "req_123"}},
					sim.Step{Body: f.okBody},
				)
				a := p.call(f.req(f.body))
				wantStatus(t, a, status)
				assert.Equal(t, body, string(a.body))
				assert.Equal(t, "application/json; charset=utf-8", a.header.Get("Content-Type"))
				assert.Equal(t, "req_123", a.header.Get("X-Request-Id"), "X-Request-Id relayed")
				wantCount(t, "upstream", up, 1)
				ev := p.event(1)
				assert.Equal(t, []string{"client_error"}, reasons(ev))
				assert.Equal(t, stats.OutcomeUpstreamError, ev.Outcome)
				assert.Equal(t, status, ev.Status)
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
				up, p := setup(t, 2)
				good := f.stream(words(2), 3, 2)
				okStep, want := sim.Step{Body: f.okBody}, f.okBody
				if stream {
					okStep, want = sim.Step{Events: good}, concat(good)
				}
				up.Push(sim.Step{Fault: fault}, okStep)
				a := p.call(f.req(f.bodyFor(stream)))
				wantStatus(t, a, 200)
				assert.Equal(t, want, string(a.body))
				wantCount(t, "upstream", up, 2)
				ev := p.event(1)
				assert.Equal(t, []string{"ta:0:connect_error", "tb:200:ok"}, trail(ev))
				assert.Equal(t, stats.OutcomeOK, ev.Outcome)
			})
		}
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
			up, p := setup(t, 2)
			good := tc.f.stream(words(2), 2, 2)
			okStep, want := sim.Step{Body: tc.f.okBody}, tc.f.okBody
			if tc.stream {
				okStep, want = sim.Step{Events: good}, concat(good)
			}
			up.Push(tc.step, okStep)
			a := p.call(tc.f.req(tc.f.bodyFor(tc.stream)))
			wantStatus(t, a, 200)
			assert.Equal(t, want, string(a.body))
			wantCount(t, "upstream", up, 2)
			ev := p.event(1)
			assert.Equal(t, []string{fmt.Sprintf("ta:%d:server_error", tc.status), "tb:200:ok"}, trail(ev))
			assert.Equal(t, stats.OutcomeOK, ev.Outcome)
			assert.Zero(t, ev.RateLimits)
		})
	}
}

// A target whose port is closed is skipped for the next one; when nothing
// answers at all the client gets 502 in the family's shape.
func TestFaults_ConnectionRefused(t *testing.T) {
	t.Parallel()
	eachFamily(t, func(t *testing.T, f family) {
		up := newUpstream(t, sim.Options{})
		cfg := testConfig([]string{closedPortURL(t), up.URL()}, []string{upKeyA, upKeyB})
		cfg.TargetNames = []string{"dead", "live"}
		p := startProxy(t, cfg)
		for _, body := range []string{f.body, f.streamBody} {
			wantStatus(t, p.call(f.req(body)), 200)
		}
		evs := p.events(2)
		// The first request starts on "dead"; the second starts on "live".
		assert.Equal(t, []string{"dead:0:connect_error", "live:200:ok"}, trail(evs[0]))
		assert.Equal(t, stats.OutcomeOK, evs[1].Outcome)
		assert.Equal(t, "live", evs[1].Target)
		wantCount(t, "live upstream", up, 2)

		// Every target refused.
		cfg2 := testConfig([]string{closedPortURL(t), closedPortURL(t)}, []string{upKeyA, upKeyB})
		cfg2.MaxRetries = 3
		p2 := startProxy(t, cfg2)
		a := p2.call(f.req(f.body))
		wantStatus(t, a, 502)
		wantErrorShape(t, f, a.body, "")
		ev := p2.event(1)
		assert.Equal(t, []string{"connect_error", "connect_error", "connect_error", "connect_error"}, reasons(ev))
		assert.Equal(t, stats.OutcomeUnreachable, ev.Outcome)
		assert.Equal(t, 502, ev.Status)
	})
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
				up, p := setup(t, 2)
				up.Push(sim.Step{Status: 400, Body: bodies[f.name]}, sim.Step{Body: f.okBody})
				a := p.call(f.req(f.bodyFor(stream)))
				wantStatus(t, a, 400)
				assert.Equal(t, bodies[f.name], string(a.body))
				assert.Equal(t, "application/json", a.header.Get("Content-Type"))
				wantCount(t, "upstream", up, 1)
				ev := p.event(1)
				assert.Equal(t, []string{"client_error"}, reasons(ev))
				assert.Equal(t, stats.OutcomeUpstreamError, ev.Outcome)
			})
		}
	}
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
			up, p := setup(t, 3, func(c *Config) { c.MaxRetries = 0 })
			up.Push(tc.step, sim.Step{Body: f.okBody})
			a := p.call(f.req(tc.body))
			wantStatus(t, a, tc.status)
			switch tc.status {
			case 429:
				wantErrorShape(t, f, a.body, allRateLimitedMsg)
			case 500:
				assert.Equal(t, "boom", string(a.body))
			case 502:
				wantErrorShape(t, f, a.body, "")
			}
			wantCount(t, "upstream", up, 1)
			assert.Len(t, p.event(1).Attempts, 1, "one attempt")
		})
	}
}
