package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// routingEnv is what ${NAME} reads in the routing files of these tests.
var routingEnv = map[string]string{"KEY_A": upKeyA, "KEY_B": upKeyB, "KEY_C": upKeyC, "KEY_D": upKeyD}

// writeRoutingFile writes a routing file with {URL} replaced by url (and
// {URL2} by url2) and returns its path.
func writeRoutingFile(t testing.TB, dir, yaml, url, url2 string) string {
	t.Helper()
	path := filepath.Join(dir, "llm-proxy.yaml")
	yaml = strings.ReplaceAll(strings.ReplaceAll(yaml, "{URL2}", url2), "{URL}", url)
	if err := os.WriteFile(path+".tmp", []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil { // as editors and Kubernetes do
		t.Fatal(err)
	}
	return path
}

// startRouted starts a proxy with the routing file yaml in front of srv.
func startRouted(t testing.TB, yaml string, srv *sim.Server, tweak func(*Config)) (*proxy, string) {
	t.Helper()
	dir := t.TempDir()
	path := writeRoutingFile(t, dir, yaml, srv.URL(), "")
	cfg := testConfig(nil, nil)
	cfg.ConfigFile = path
	cfg.lookup = func(k string) (string, bool) { v, ok := routingEnv[k]; return v, ok }
	if tweak != nil {
		tweak(&cfg)
	}
	return startProxy(t, cfg), path
}

func chat(model string) request {
	return request{path: "/v1/chat/completions", body: `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`}
}

func chatStream(model string) request {
	return request{path: "/v1/chat/completions", body: `{"model":"` + model + `","stream":true,"messages":[{"role":"user","content":"hi"}]}`}
}

// keysSeen counts the upstream keys (by test key name) of the requests srv received for path.
func keysSeen(srv *sim.Server, path string) map[string]int {
	names := map[string]string{upKeyA: "A", upKeyB: "B", upKeyC: "C", upKeyD: "D"}
	out := map[string]int{}
	for _, r := range srv.Requests() {
		if strings.HasPrefix(r.Path, path) {
			out[names[r.Key]]++
		}
	}
	return out
}

const twoTargets = `targets:
  - name: a
    url: {URL}
    keys: ["${KEY_A}"]
    api: any
  - name: b
    url: {URL}
    keys: ["${KEY_B}"]
    api: any
`

// TestRoutingE2E_RevokedKeyDisabledAndReEnabled: a 401 disables the key
// instead of reaching the client, the request goes on elsewhere without
// using MAX_RETRIES, the background check enables the key again once it works.
func TestRoutingE2E_RevokedKeyDisabledAndReEnabled(t *testing.T) {
	srv := newUpstream(t, sim.Options{})
	srv.SetKeyState(upKeyA, sim.KeyRevoked)
	p, _ := startRouted(t, twoTargets, srv, func(c *Config) {
		c.MaxRetries = 0 // the 401 must not use the only attempt
		c.HealthCheckInterval = 300 * time.Millisecond
	})
	for i := range 6 {
		a := p.call(chat("gpt-4o"))
		if a.status != 200 {
			t.Fatalf("request %d: %d %s", i, a.status, a.body)
		}
	}
	evs := p.events(6)
	if got := strings.Join(trail(evs[0]), " "); got != "a:401:key_unusable b:200:ok" {
		t.Errorf("first trail = %s", got)
	}
	for _, ev := range evs[1:] {
		if got := strings.Join(trail(ev), " "); got != "b:200:ok" {
			t.Errorf("later trail = %s (a is disabled)", got)
		}
	}
	st := p.app.targetStates()
	if st[0].State != "disabled" || st[0].Disabled == nil || !strings.Contains(st[0].Disabled.Reason, "401") {
		t.Errorf("a = %+v", st[0])
	}
	// The key works again: the background check (GET /v1/models) enables it.
	srv.SetKeyState(upKeyA, sim.KeyOK)
	deadline := time.Now().Add(5 * time.Second)
	for p.app.targetStates()[0].State != "ready" {
		if time.Now().After(deadline) {
			t.Fatalf("a not enabled again: %+v", p.app.targetStates()[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if keysSeen(srv, "/v1/models")["A"] == 0 {
		t.Error("no key check reached the upstream")
	}
	before := keysSeen(srv, "/v1/chat")["A"]
	for range 4 {
		wantStatus(t, p.call(chat("gpt-4o")), 200)
	}
	if got := keysSeen(srv, "/v1/chat")["A"] - before; got != 2 {
		t.Errorf("a served %d of 4 requests after re-enabling, want 2", got)
	}
}

// TestRoutingE2E_NoUsableKey: every key revoked: 503 in the family's
// shape, never the upstream's 401.
func TestRoutingE2E_NoUsableKey(t *testing.T) {
	srv := newUpstream(t, sim.Options{Hook: func(r sim.Received) *sim.Step {
		if r.Key == upKeyB {
			return &sim.Step{Status: 403, Body: `{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}}`}
		}
		return nil
	}})
	srv.SetKeyState(upKeyA, sim.KeyRevoked)
	p, _ := startRouted(t, twoTargets, srv, nil)
	for _, f := range families {
		a := p.call(f.req(f.body))
		wantStatus(t, a, 503)
		model := gjson.Get(f.body, "model").String()
		wantErrorShape(t, f, a.body, `no usable upstream key for model "`+model+`"`)
	}
	if n := srv.Count(); n != 2 {
		t.Errorf("upstream got %d requests, want 2 (each key once, then disabled)", n)
	}
}

// TestRoutingE2E_QuotaProbation: insufficient_quota disables the key until
// QUOTA_RETRY_INTERVAL; then a real request tries it again.
func TestRoutingE2E_QuotaProbation(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			srv := newUpstream(t, sim.Options{})
			srv.SetKeyState(upKeyA, sim.KeyQuotaExhausted) // OpenAI: 429 insufficient_quota; Anthropic: 400 credit balance
			p, _ := startRouted(t, twoTargets, srv, func(c *Config) { c.QuotaRetryInterval = 400 * time.Millisecond })
			wantStatus(t, p.call(f.req(f.body)), 200)
			want := "a:429:key_unusable b:200:ok"
			if f.name == "anthropic" {
				want = "a:400:key_unusable b:200:ok"
			}
			if got := strings.Join(trail(p.event(1)), " "); got != want {
				t.Errorf("trail = %s, want %s", got, want)
			}
			if s := p.app.targetStates()[0]; s.State != "disabled" {
				t.Errorf("a = %s", s.State)
			}
			srv.SetKeyState(upKeyA, sim.KeyOK)
			time.Sleep(500 * time.Millisecond)
			if s := p.app.targetStates()[0]; s.State != "probation" {
				t.Errorf("a after QUOTA_RETRY_INTERVAL = %s, want probation", s.State)
			}
			for range 2 {
				wantStatus(t, p.call(f.req(f.body)), 200)
			}
			if s := p.app.targetStates()[0]; s.State != "ready" {
				t.Errorf("a after a success on probation = %s, want ready", s.State)
			}
		})
	}
}

// TestRoutingE2E_PerModelCooldown: a 429 for one model cools that
// (target, model) pair only.
func TestRoutingE2E_PerModelCooldown(t *testing.T) {
	srv := newUpstream(t, sim.Options{})
	srv.Push(sim.Step{Status: 429, Key: upKeyA, Model: "gpt-4o", Header: map[string]string{"Retry-After": "60"}, Body: `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`})
	p, _ := startRouted(t, twoTargets, srv, nil)
	for range 4 {
		wantStatus(t, p.call(chat("gpt-4o")), 200)
	}
	if got := strings.Join(trail(p.event(1)), " "); got != "a:429:rate_limit b:200:ok" {
		t.Errorf("first trail = %s", got)
	}
	for _, ev := range p.events(4)[1:] {
		if ev.Target != "b" {
			t.Errorf("gpt-4o went to %s while a cools for it", ev.Target)
		}
	}
	seen := map[string]bool{}
	for range 4 {
		a := p.call(chat("gpt-4o-mini"))
		wantStatus(t, a, 200)
	}
	for _, ev := range p.events(8)[4:] {
		seen[ev.Target] = true
	}
	if !seen["a"] {
		t.Error("gpt-4o-mini never went to a: its cooldown is for gpt-4o only")
	}
	st := p.app.targetStates()[0]
	if st.State != "cooling" || len(st.Cooling) != 1 || st.Cooling[0].Model != "gpt-4o" {
		t.Errorf("a = %+v", st)
	}
}

// TestRoutingE2E_PriorityTiers: a higher priority value is used only when
// every target of the lower one is unusable.
func TestRoutingE2E_PriorityTiers(t *testing.T) {
	srv := newUpstream(t, sim.Options{})
	p, _ := startRouted(t, `targets:
  - {name: main, url: "{URL}", keys: ["${KEY_A}", "${KEY_B}"]}
  - {name: spare, url: "{URL}", keys: ["${KEY_C}"], priority: 1}
`, srv, nil)
	for range 6 {
		wantStatus(t, p.call(chat("m")), 200)
	}
	if got := keysSeen(srv, "/v1/chat"); got["A"] != 3 || got["B"] != 3 || got["C"] != 0 {
		t.Errorf("keys seen = %v, want A 3, B 3, C 0", got)
	}
	srv.SetKeyState(upKeyA, sim.KeyRevoked)
	srv.SetKeyState(upKeyB, sim.KeyRevoked)
	for range 3 {
		wantStatus(t, p.call(chat("m")), 200)
	}
	if got := keysSeen(srv, "/v1/chat"); got["C"] != 3 {
		t.Errorf("keys seen = %v, want C 3 once the tier-0 keys are disabled", got)
	}
}

// TestRoutingE2E_Weights: 10,000 requests follow the weights within ±5 %.
func TestRoutingE2E_Weights(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 requests")
	}
	srv := newUpstream(t, sim.Options{})
	p, _ := startRouted(t, `targets:
  - {name: a, url: "{URL}", keys: ["${KEY_A}"], weight: 1}
  - {name: b, url: "{URL}", keys: ["${KEY_B}"], weight: 3}
  - {name: c, url: "{URL}", keys: ["${KEY_C}"], weight: 6}
`, srv, func(c *Config) { c.RecentSize = 10 })
	const n = 10000
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= n {
				resp := p.do(t.Context(), chat("m"))
				_, _ = io_Discard(resp)
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f != 0 {
		t.Fatalf("%d requests failed", f)
	}
	got := keysSeen(srv, "/v1/chat")
	for name, share := range map[string]float64{"A": 0.1, "B": 0.3, "C": 0.6} {
		s := float64(got[name]) / n
		if s < share*0.95 || s > share*1.05 {
			t.Errorf("%s: share %.4f, want %.2f ±5 %%", name, s, share)
		}
	}
}

func io_Discard(resp *http.Response) (int64, error) {
	defer resp.Body.Close()
	var n int64
	buf := make([]byte, 4096)
	for {
		m, err := resp.Body.Read(buf)
		n += int64(m)
		if err != nil {
			return n, nil
		}
	}
}

const fallbackFile = `targets:
  - {name: a, url: "{URL}", keys: ["${KEY_A}"]}
  - {name: b, url: "{URL}", keys: ["${KEY_B}"]}
models:
  fast: {to: small-1}
  big-1:
    fallback: [fast]
    fallback_on: [rate_limit, server_error, unreachable, timeout, context_length]
    first_byte_timeout: 300ms
`

// TestRoutingE2E_Fallback: each fallback_on kind moves the request to the
// next model (an alias here), with the body's model rewritten and nothing
// else, a fresh budget, every attempt in the trail, X-LLM-Proxy-Model.
func TestRoutingE2E_Fallback(t *testing.T) {
	rl := `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`
	cases := []struct {
		name  string
		steps []sim.Step
		trail string
	}{
		{"rate_limit", []sim.Step{{Status: 429, Model: "big-1", Body: rl}, {Status: 429, Model: "big-1", Body: rl}},
			"a:429:rate_limit@big-1 b:429:rate_limit@big-1 a:200:ok@small-1"},
		{"server_error", []sim.Step{{Status: 500, Model: "big-1", Body: `{"error":{"message":"boom","type":"server_error"}}`}, {Status: 502, Model: "big-1"}},
			"a:500:server_error@big-1 b:502:server_error@big-1 a:200:ok@small-1"},
		{"unreachable", []sim.Step{{Fault: sim.FaultReset, Model: "big-1"}, {Fault: sim.FaultClose, Model: "big-1"}, {Fault: sim.FaultReset, Model: "big-1"}, {Fault: sim.FaultReset, Model: "big-1"}},
			"a:0:connect_error@big-1 b:0:connect_error@big-1 a:200:ok@small-1"},
		{"timeout", []sim.Step{{HeaderDelay: 2 * time.Second, Model: "big-1"}},
			"a:0:timeout@big-1 a:200:ok@small-1"},
		{"context_length", []sim.Step{{Status: 400, Model: "big-1", Body: `{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}`}},
			"a:400:client_error@big-1 a:200:ok@small-1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newUpstream(t, sim.Options{})
			srv.Push(c.steps...)
			p, _ := startRouted(t, fallbackFile, srv, func(cfg *Config) { cfg.MaxRetries = 1 })
			body := `{"model":"big-1",  "messages":[{"role":"user","content":"hi"}], "x": [1, 2]}`
			a := p.call(request{path: "/v1/chat/completions", body: body})
			wantStatus(t, a, 200)
			if got := a.header.Get("X-LLM-Proxy-Model"); got != "small-1" {
				t.Errorf("X-LLM-Proxy-Model = %q", got)
			}
			ev := p.event(1)
			var tr []string
			for _, at := range ev.Attempts {
				tr = append(tr, fmt.Sprintf("%s:%d:%s@%s", at.Target, at.Status, at.Reason, at.Model))
			}
			// Which of a, b comes first after a fallback depends on the rotation: compare the models and reasons.
			if got := strings.Join(tr, " "); stripTargets(got) != stripTargets(c.trail) {
				t.Errorf("trail = %s, want %s", got, c.trail)
			}
			if ev.Model != "big-1" || ev.ServedModel != "small-1" || ev.Fallbacks != 1 {
				t.Errorf("event model %q served %q fallbacks %d", ev.Model, ev.ServedModel, ev.Fallbacks)
			}
			reqs := srv.Requests()
			last := reqs[len(reqs)-1]
			if want := strings.Replace(body, `"big-1"`, `"small-1"`, 1); string(last.Body) != want {
				t.Errorf("upstream body = %s, want %s (only the model rewritten)", last.Body, want)
			}
		})
	}
}

func stripTargets(trail string) string {
	var out []string
	for _, item := range strings.Fields(trail) {
		out = append(out, item[strings.IndexByte(item, ':'):])
	}
	return strings.Join(out, " ")
}

// TestRoutingE2E_FallbackStream: a stream whose first event is a rate limit
// falls back before anything reaches the client.
func TestRoutingE2E_FallbackStream(t *testing.T) {
	srv := newUpstream(t, sim.Options{})
	ev := sim.OpenAIErrorEvent("rate_limit_exceeded", "Rate limit reached")
	srv.Push(sim.Step{Model: "big-1", Events: []string{ev}}, sim.Step{Model: "big-1", Events: []string{ev}})
	p, _ := startRouted(t, fallbackFile, srv, func(cfg *Config) { cfg.MaxRetries = 1 })
	a, _, err := p.stream(chatStream("big-1"))
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, a, 200)
	if !strings.Contains(string(a.body), "data: [DONE]") || strings.Contains(string(a.body), "Rate limit") {
		t.Errorf("stream = %s", a.body)
	}
	if got := a.header.Get("X-LLM-Proxy-Model"); got != "small-1" {
		t.Errorf("X-LLM-Proxy-Model = %q", got)
	}
}

// TestRoutingE2E_NoFallbackWithoutKind: a kind not in fallback_on ends the
// request as without a routing file (a timeout is not retried).
func TestRoutingE2E_NoFallbackWithoutKind(t *testing.T) {
	srv := newUpstream(t, sim.Options{})
	srv.Push(sim.Step{HeaderDelay: 2 * time.Second, Model: "big-1"})
	p, _ := startRouted(t, strings.Replace(fallbackFile, "unreachable, timeout, context_length", "unreachable", 1), srv, nil)
	a := p.call(chat("big-1"))
	wantStatus(t, a, 504)
	if n := len(p.event(1).Attempts); n != 1 {
		t.Errorf("attempts = %d, want 1 (a timeout is not retried)", n)
	}
}

// TestRoutingE2E_Alias: the upstream gets the alias's model, the client's
// body otherwise byte for byte.
func TestRoutingE2E_Alias(t *testing.T) {
	srv := newUpstream(t, sim.Options{})
	p, _ := startRouted(t, fallbackFile, srv, nil)
	a := p.call(chat("fast"))
	wantStatus(t, a, 200)
	if got := a.header.Get("X-LLM-Proxy-Model"); got != "small-1" {
		t.Errorf("X-LLM-Proxy-Model = %q", got)
	}
	got := srv.Requests()[0].Body
	if want := strings.Replace(chat("fast").body, `"fast"`, `"small-1"`, 1); string(got) != want {
		t.Errorf("upstream body = %s, want %s", got, want)
	}
}

// TestRoutingE2E_NotServed: a model no target serves is 404 in the
// family's shape and nothing goes upstream.
func TestRoutingE2E_NotServed(t *testing.T) {
	srv := newUpstream(t, sim.Options{})
	p, _ := startRouted(t, `targets:
  - {name: o, url: "{URL}", keys: ["${KEY_A}"], models: ["gpt-*"]}
  - {name: c, url: "{URL}", keys: ["${KEY_B}"], api: anthropic, models: ["claude-*"]}
`, srv, nil)
	for _, c := range []struct {
		f     family
		model string
	}{{families[0], "llama"}, {families[1], "llama"}} { // served in the other API: translated (translate_e2e_test.go)
		body := strings.Replace(c.f.body, gjson.Get(c.f.body, "model").String(), c.model, 1)
		a := p.call(c.f.req(body))
		wantStatus(t, a, 404)
		wantErrorShape(t, c.f, a.body, `model "`+c.model+`" is not served by any target`)
	}
	if n := srv.Count(); n != 0 {
		t.Errorf("upstream got %d requests", n)
	}
	// And the served ones go to the right API's target.
	wantStatus(t, p.call(families[1].req(families[1].body)), 200)
	if k := srv.Requests()[0].Key; k != upKeyB {
		t.Error("claude request went to the openai target")
	}
}

// TestRoutingE2E_ReloadUnderLoad: the file changes while requests run:
// none fails, the new routing serves new requests, state carries over, a
// bad file keeps the running routing and says why.
func TestRoutingE2E_ReloadUnderLoad(t *testing.T) {
	srv := newUpstream(t, sim.Options{Latency: 5 * time.Millisecond})
	srv.SetKeyState(upKeyB, sim.KeyRevoked)
	p, path := startRouted(t, twoTargets, srv, func(c *Config) { c.RecentSize = 10 })
	wantStatus(t, p.call(chat("m")), 200) // disables b
	var failed, done atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp := p.do(t.Context(), chat("m"))
				_, _ = io_Discard(resp)
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
				done.Add(1)
			}
		}()
	}
	three := twoTargets + "  - {name: c, url: \"{URL}\", keys: [\"${KEY_C}\"], weight: 5}\n"
	for i := range 6 {
		time.Sleep(100 * time.Millisecond)
		yaml := three
		if i%2 == 1 {
			yaml = twoTargets
		}
		writeRoutingFile(t, filepath.Dir(path), yaml, srv.URL(), "")
		if err := p.app.ReloadRouting("test"); err != nil {
			t.Fatal(err)
		}
	}
	writeRoutingFile(t, filepath.Dir(path), three, srv.URL(), "")
	time.Sleep(300 * time.Millisecond) // the watcher's reload too
	close(stop)
	wg.Wait()
	if f := failed.Load(); f != 0 {
		t.Errorf("%d of %d requests failed during reloads", f, done.Load())
	}
	if got := keysSeen(srv, "/v1/chat")["C"]; got == 0 {
		t.Error("the added target c got no traffic")
	}
	if st := p.app.targetStates(); len(st) != 3 || st[1].State != "disabled" {
		t.Errorf("states after reload = %+v (b's disabled key carries over)", st)
	}
	// A bad file: refused, the routing stays, the status says why.
	writeRoutingFile(t, filepath.Dir(path), twoTargets+"    weight: x\n", srv.URL(), "")
	if err := p.app.ReloadRouting("test"); err == nil || !strings.Contains(err.Error(), `llm-proxy.yaml:10: targets[1].weight: not a number: "x"`) {
		t.Errorf("reload error = %v", err)
	}
	rs := p.app.RoutingStatus()
	if rs == nil || rs.Error == nil || !strings.Contains(*rs.Error, "weight") {
		t.Errorf("status = %+v", rs)
	}
	if n := len(p.app.targetStates()); n != 3 {
		t.Errorf("targets after a bad file = %d, want 3 (kept)", n)
	}
	wantStatus(t, p.call(chat("m")), 200)
	// /api/stats says so too, and shows each target's state.
	a := p.call(request{method: "GET", path: "/api/stats"})
	wantStatus(t, a, 200)
	var snap struct {
		Routing struct {
			File     string    `json:"file"`
			LoadedAt time.Time `json:"loaded_at"`
			Error    *string   `json:"error"`
		} `json:"routing"`
		Targets []struct {
			Name     string `json:"name"`
			Group    string `json:"group"`
			State    string `json:"state"`
			Disabled *struct {
				Reason    string    `json:"reason"`
				NextCheck time.Time `json:"next_check"`
			} `json:"disabled"`
		} `json:"targets"`
	}
	if err := json.Unmarshal(a.body, &snap); err != nil {
		t.Fatal(err)
	}
	if snap.Routing.File != path || snap.Routing.Error == nil || !strings.Contains(*snap.Routing.Error, "weight") || snap.Routing.LoadedAt.IsZero() {
		t.Errorf("/api/stats routing = %+v", snap.Routing)
	}
	if len(snap.Targets) != 3 || snap.Targets[1].State != "disabled" || snap.Targets[1].Disabled == nil || snap.Targets[1].Disabled.NextCheck.IsZero() {
		t.Errorf("/api/stats targets = %s", a.body)
	}
	// A good file again clears the error.
	writeRoutingFile(t, filepath.Dir(path), three, srv.URL(), "")
	if err := p.app.ReloadRouting("test"); err != nil {
		t.Fatal(err)
	}
	if rs := p.app.RoutingStatus(); rs.Error != nil {
		t.Errorf("error after a good reload: %s", *rs.Error)
	}
	// /metrics has a gauge per target and state.
	m := p.call(request{method: "GET", path: "/metrics"})
	for _, want := range []string{`llmproxy_target_state{state="disabled",target="b"} 1`, `llmproxy_target_state{state="ready",target="b"} 0`, `llmproxy_target_state{state="ready",target="a"} 1`} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestConfig_RoutingFileExclusive: targets in the file and PROXY_URL at once is refused.
func TestConfig_RoutingFileExclusive(t *testing.T) {
	dir := t.TempDir()
	path := writeRoutingFile(t, dir, twoTargets, "http://127.0.0.1:1/v1", "")
	cfg := testConfig([]string{"http://127.0.0.1:1/v1"}, []string{upKeyA})
	cfg.ConfigFile = path
	cfg.lookup = func(k string) (string, bool) { v, ok := routingEnv[k]; return v, ok }
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "pick one") {
		t.Errorf("Validate = %v", err)
	}
	cfg.ProxyURLs, cfg.APIKeys = nil, nil
	if err := cfg.Validate(); err != nil {
		t.Errorf("file alone: %v", err)
	}
	// A file with models only takes its targets from PROXY_URL/API_KEY.
	path = writeRoutingFile(t, dir, "models:\n  fast: {to: small-1}\n", "", "")
	cfg = testConfig([]string{"http://127.0.0.1:1/v1"}, []string{upKeyA})
	cfg.ConfigFile = path
	if err := cfg.Validate(); err != nil {
		t.Errorf("models-only file with PROXY_URL: %v", err)
	}
	r, err := cfg.BuildRouting(nil)
	if err != nil || len(r.Targets()) != 1 || len(r.Aliases()) != 1 {
		t.Errorf("BuildRouting = %v, %v", r, err)
	}
}

// TestRoutingE2E_ModelsUnion: GET /v1/models is the union of the
// upstreams' lists filtered by the targets' patterns, plus the aliases, in
// the shape the client speaks; cached for a minute.
func TestRoutingE2E_ModelsUnion(t *testing.T) {
	srv := newUpstream(t, sim.Options{})
	p, _ := startRouted(t, `targets:
  - {name: o, url: "{URL}", keys: ["${KEY_A}"], models: ["gpt-*"]}
  - {name: c, url: "{URL}", keys: ["${KEY_B}"], api: anthropic, models: ["claude-*"]}
models:
  fast: {to: gpt-4o-mini}
`, srv, nil)
	a := p.call(request{method: "GET", path: "/v1/models"})
	wantStatus(t, a, 200)
	var ids []string
	for _, id := range gjson.GetBytes(a.body, "data.#.id").Array() {
		ids = append(ids, id.String())
	}
	if got, want := strings.Join(ids, " "), "claude-3-5-haiku-latest claude-sonnet-4-5 fast gpt-4o gpt-4o-mini"; got != want {
		t.Errorf("models = %s, want %s (o3-mini is served by no target)", got, want)
	}
	if gjson.GetBytes(a.body, "object").String() != "list" {
		t.Errorf("not OpenAI's shape: %s", a.body)
	}
	b := p.call(request{method: "GET", path: "/v1/models", keyHeader: "x-api-key", header: map[string]string{"anthropic-version": "2023-06-01"}})
	wantStatus(t, b, 200)
	if gjson.GetBytes(b.body, "data.0.type").String() != "model" || gjson.GetBytes(b.body, "has_more").Type != gjson.False || gjson.GetBytes(b.body, "data.#").Int() != 5 {
		t.Errorf("not Anthropic's shape: %s", b.body)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("upstream got %d model list requests, want 1 (one URL, cached)", n)
	}
}

// TestDemo_BuiltInRouting: demo mode runs on its built-in routing file over
// two simulated providers, with an alias and fallbacks.
func TestDemo_BuiltInRouting(t *testing.T) {
	cfg := testConfig(nil, nil)
	PrepareDemo(&cfg)
	cfg.DemoRateLimitShare = 0
	cfg.MaxRetries = 0 // one attempt per model: a gpt-4o fault falls back at once (p = 0.6 each)
	p := startProxy(t, cfg)
	var names []string
	for _, s := range p.app.targetStates() {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, " "); got != "openai-sim#1 openai-sim#2 anthropic-sim" {
		t.Errorf("targets = %s", got)
	}
	a := p.call(chat("fast"))
	wantStatus(t, a, 200)
	if got := a.header.Get("X-LLM-Proxy-Model"); got != "gpt-4o-mini" {
		t.Errorf("fast served as %q", got)
	}
	f := families[1]
	wantStatus(t, p.call(f.req(f.body)), 200)
	if got := p.event(2).Target; got != "anthropic-sim" {
		t.Errorf("claude went to %s", got)
	}
	// gpt-4o fails 60 % of the time upstream: over 20 requests none fails,
	// and some fell back (all 20 served by gpt-4o has p = 0.4^20).
	fallbacks := 0
	for range 20 {
		a := p.call(chat("gpt-4o"))
		wantStatus(t, a, 200)
		if a.header.Get("X-LLM-Proxy-Model") == "gpt-4o-mini" {
			fallbacks++
		}
	}
	if fallbacks == 0 {
		t.Error("no gpt-4o request fell back in 20")
	}
	if rs := p.app.RoutingStatus(); rs == nil || rs.File != demoRoutingName {
		t.Errorf("routing status = %+v", rs)
	}
}

// TestRoutingE2E_NoFallbackOnMixedEnd: a 500 then no answer is neither
// server_error (the last attempt got no 5xx) nor unreachable (one got an
// answer): no fallback, the 500 is relayed.
func TestRoutingE2E_NoFallbackOnMixedEnd(t *testing.T) {
	srv := newUpstream(t, sim.Options{})
	srv.Push(sim.Step{Status: 500, Model: "big-1", Body: `{"error":{"message":"boom","type":"server_error"}}`}, sim.Step{Fault: sim.FaultReset, Model: "big-1"}, sim.Step{Fault: sim.FaultReset, Model: "big-1"})
	p, _ := startRouted(t, fallbackFile, srv, func(cfg *Config) { cfg.MaxRetries = 1 })
	a := p.call(chat("big-1"))
	wantStatus(t, a, 500)
	if ev := p.event(1); ev.Fallbacks != 0 || ev.ServedModel != "big-1" {
		t.Errorf("fallbacks %d, served %q", ev.Fallbacks, ev.ServedModel)
	}
}

// TestRoutingE2E_ReloadOnFileChange: saving the file (replaced by rename,
// as editors and Kubernetes do) reloads it without a signal.
func TestRoutingE2E_ReloadOnFileChange(t *testing.T) {
	srv := newUpstream(t, sim.Options{})
	p, path := startRouted(t, twoTargets, srv, nil)
	before := p.app.RoutingStatus().LoadedAt
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(p.logs.String(), "watching the routing file"); {
		if time.Now().After(deadline) {
			t.Fatal("the routing file is not watched")
		}
		time.Sleep(10 * time.Millisecond)
	}
	writeRoutingFile(t, filepath.Dir(path), twoTargets+"  - {name: c, url: \"{URL}\", keys: [\"${KEY_C}\"]}\n", srv.URL(), "")
	deadline := time.Now().Add(5 * time.Second)
	for len(p.app.targetStates()) != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the file change was not picked up: %d targets\n%s", len(p.app.targetStates()), p.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !p.app.RoutingStatus().LoadedAt.After(before) {
		t.Error("loaded_at did not move")
	}
	if !strings.Contains(p.logs.String(), "routing file reloaded") {
		t.Error("the reload is not logged")
	}
}
