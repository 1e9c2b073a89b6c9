package app

// Cooldown: Retry-After in its forms, cooling targets skipped or waited
// for, flapping targets kept in rotation. A real proxy in front of the
// simulated upstream (see helpers_test.go).

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// retryAfterSeconds parses the Retry-After header the client got.
func retryAfterSeconds(t *testing.T, a answer) int {
	t.Helper()
	v := a.header.Get("Retry-After")
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "Retry-After = %q, want whole seconds", v)
	return n
}

// Target A answers 429 with Retry-After: 30; the request is served by B and
// the next requests go straight to B without touching A.
func TestE2E_RetryAfterSkipsCoolingTarget(t *testing.T) {
	t.Parallel()
	upA, upB, p := setupPair(t)
	f := families[0]
	upA.Push(sim.Step{Status: 429, Header: map[string]string{"Retry-After": "30"}, Body: f.errorBody("rate_limit_error", "Rate limit reached")})

	wantStatus(t, p.call(f.req(f.body)), 200)
	require.Equal(t, []string{"A:429:rate_limit", "B:200:ok"}, trail(p.event(1)), "first request trail")
	for i := range 4 {
		wantStatus(t, p.call(f.req(f.body)), 200)
		assert.Equal(t, []string{"B:200:ok"}, trail(p.event(2+i)), "request %d trail", 2+i)
	}
	wantCount(t, "A", upA, 1)
	wantCount(t, "B", upB, 5)
	var cooling bool
	for _, ts := range p.app.Recorder().Snapshot().Targets {
		if ts.Name == "A" {
			cooling = ts.State == "cooling" && ts.CoolingUntil != nil && time.Until(*ts.CoolingUntil) > 20*time.Second
		}
	}
	assert.True(t, cooling, "target A is shown cooling for ~30s: %+v", p.app.Recorder().Snapshot().Targets)
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
				up, p := setup(t, 1, func(c *Config) { c.MaxRetries = 3 })
				up.Push(sim.Step{Status: 429, Header: tc.header(), Body: f.errorBody("rate_limit_error", "Rate limit reached")})

				for i := 1; i <= 3; i++ {
					a := p.call(f.req(f.body))
					wantStatus(t, a, 429)
					wantErrorShape(t, f, a.body, allRateLimitedMsg)
					s := retryAfterSeconds(t, a)
					assert.True(t, s >= 25 && s <= 31, "request %d: Retry-After = %d, want about 30", i, s)
					assert.LessOrEqual(t, a.took, time.Second, "request %d: want an answer at once, not a wait", i)
				}
				wantCount(t, "upstream", up, 1)
				evs := p.events(3)
				assert.Equal(t, []string{"rate_limit"}, reasons(evs[0]), "first request reasons")
				for _, ev := range evs {
					assert.Equal(t, stats.OutcomeRateLimited, ev.Outcome)
					assert.Equal(t, 429, ev.Status)
				}
				assert.Empty(t, evs[1].Attempts, "later requests make no attempt")
				assert.Empty(t, evs[2].Attempts, "later requests make no attempt")
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
			up, p := setup(t, 1)
			f := families[0]
			up.Push(sim.Step{Status: 429, Header: h, Body: f.errorBody("rate_limit_error", "Rate limit reached")},
				sim.Step{Body: f.okBody})
			a := p.call(f.req(f.body))
			wantStatus(t, a, 200)
			assert.True(t, a.took >= 700*time.Millisecond && a.took <= 2500*time.Millisecond, "took %v, want the announced wait (~1s)", a.took)
			wantCount(t, "upstream", up, 2)
			assert.Equal(t, []string{"rate_limit", "ok"}, reasons(p.event(1)))
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
			up, p := setup(t, 3)
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
			assert.Equal(t, 1, nA, "requests to target A (cooling after Retry-After)")
			wantCount(t, "upstream", up, 7)
			evs := p.events(6)
			assert.Equal(t, []string{"ta:429:rate_limit", "tb:200:ok"}, trail(evs[0]), "first trail")
			for _, ev := range evs[1:] {
				assert.True(t, len(ev.Attempts) == 1 && ev.Attempts[0].Target != "ta", "trail = %v, want one attempt, not on ta", trail(ev))
			}
		})
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
		wantStatus(t, p.call(f.req(f.bodyFor(i%3 == 0))), 200)
	}
	evs := p.events(n)
	var flappyTries, failures, attempts int
	for _, ev := range evs {
		attempts += len(ev.Attempts)
		assert.Equal(t, stats.OutcomeOK, ev.Outcome, "trail %v", trail(ev))
		for i, a := range ev.Attempts {
			if a.Target == "flappy" {
				flappyTries++
			}
			if a.Reason == "server_error" {
				failures++
				assert.True(t, a.Target == "flappy" && a.Status == 503 && i == 0 && len(ev.Attempts) == 2 && ev.Attempts[1].Target == "stable",
					"trail %v: want a 503 on flappy, then stable", trail(ev))
			}
		}
	}
	assert.GreaterOrEqual(t, flappyTries, n/2-1, "flappy tries in %d requests: it should stay in rotation (no Retry-After)", n)
	assert.Equal(t, (flappyTries+1)/2, failures, "server errors for %d tries of the flapping target: every other one", flappyTries)
	assert.Equal(t, n+failures, attempts, "attempts")
	assert.Equal(t, attempts, up.Count(), "upstream requests")
	for _, ts := range p.app.Recorder().Snapshot().Targets {
		assert.Equal(t, "ok", ts.State, "target %s (a 503 without Retry-After does not cool)", ts.Name)
	}
}

// Every target cooling for long: 429 with Retry-After at once, without
// touching any upstream again. Cooling within the wait bound: the proxy waits.
func TestFaults_AllTargetsCooling(t *testing.T) {
	t.Parallel()
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			upA, upB, p := setupPair(t)
			upA.Push(sim.Step{Status: 429, Header: map[string]string{"Retry-After": "60"}, Body: f.errorBody("rate_limit_error", "slow down")})
			upB.Push(sim.Step{Status: 429, Header: map[string]string{"Retry-After": "90"}, Body: f.errorBody("rate_limit_error", "slow down")})
			for i := range 6 {
				a := p.call(f.req(f.bodyFor(i%2 == 1)))
				wantStatus(t, a, 429)
				wantErrorShape(t, f, a.body, allRateLimitedMsg)
				s := retryAfterSeconds(t, a)
				assert.True(t, s >= 55 && s <= 61, "request %d: Retry-After = %d, want ~60 (the soonest target)", i, s)
				assert.LessOrEqual(t, a.took, time.Second, "request %d: want at once", i)
			}
			wantCount(t, "A", upA, 1)
			wantCount(t, "B", upB, 1)
			evs := p.events(6)
			assert.Len(t, evs[0].Attempts, 2, "first trail %v", trail(evs[0]))
			assert.Equal(t, 2, evs[0].RateLimits, "first trail %v", trail(evs[0]))
			for _, ev := range evs {
				assert.Equal(t, stats.OutcomeRateLimited, ev.Outcome)
			}
			var cooling int
			for _, ts := range p.app.Recorder().Snapshot().Targets {
				if ts.State == "cooling" {
					cooling++
				}
			}
			assert.Equal(t, 2, cooling, "targets shown cooling")
		})
	}
	t.Run("within-wait-bound", func(t *testing.T) {
		t.Parallel()
		up, p := setup(t, 2)
		f := families[0]
		rl := func(ra string) sim.Step {
			return sim.Step{Status: 429, Header: map[string]string{"Retry-After": ra}, Body: f.errorBody("rate_limit_error", "slow down")}
		}
		up.Push(rl("1"), rl("2"), sim.Step{Body: f.okBody})
		a := p.call(f.req(f.body))
		wantStatus(t, a, 200)
		assert.True(t, a.took >= 700*time.Millisecond && a.took <= 2500*time.Millisecond, "took %v, want a wait of ~1s for the soonest target", a.took)
		wantCount(t, "upstream", up, 3)
		ev := p.event(1)
		assert.Equal(t, []string{"rate_limit", "rate_limit", "ok"}, reasons(ev))
		require.Len(t, ev.Attempts, 3)
		assert.Equal(t, ev.Attempts[0].Target, ev.Attempts[2].Target, "trail %v, want the soonest target (the first) again", trail(ev))
	})
}
