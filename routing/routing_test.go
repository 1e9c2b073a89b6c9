package routing

import (
	"strings"
	"testing"
	"time"
)

func mustRouting(t testing.TB, yaml string, prev *Routing) *Routing {
	t.Helper()
	f, err := Parse("test.yaml", []byte(yaml), lookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Build(f, Options{MaxCooldown: 5 * time.Minute, QuotaRetryInterval: time.Hour, HealthCheckInterval: 5 * time.Minute}, prev)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func target(r *Routing, name string) *Target {
	for _, t := range r.targets {
		if t.Name == name {
			return t
		}
	}
	panic("no target " + name)
}

// picks returns the names of n successive first picks (one per request).
func picks(t *testing.T, r *Routing, fam Family, model string, n int, now time.Time) []string {
	t.Helper()
	plan, ok := r.Plan(fam, []byte(model))
	if !ok {
		t.Fatalf("model %q not served", model)
	}
	var out []string
	for range n {
		p := r.Picker(plan.Step())
		tg, _, res := p.Next(now)
		if res != Picked {
			out = append(out, "-")
			continue
		}
		out = append(out, tg.Name)
	}
	return out
}

const mixed = `targets:
  - name: openai
    url: https://api.openai.com/v1
    keys: [ka, kb]
    models: ["gpt-*", "o*"]
  - name: claude
    url: https://api.anthropic.com/v1
    keys: [kc]
    models: ["claude-*"]
  - name: relay
    url: https://relay.example/v1
    keys: [kd]
    api: any
    priority: 1
models:
  fast: {to: gpt-4o-mini}
  gpt-4o:
    fallback: [fast, claude-sonnet-4-5, deepseek-chat]
    first_byte_timeout: 20s
  "claude-*": {first_byte_timeout: 7s}
  "claude-opus-*":
    fallback: [claude-sonnet-4-5]
    fallback_on: [context_length]
  claude-opus-4-1: {first_byte_timeout: 9s}
  "gpt-*": {first_byte_timeout: 1s}
  "gpt-*-x": {first_byte_timeout: 2s}
  "gpt-4*": {first_byte_timeout: 3s}
`

func TestRouting_Plan_Eligibility(t *testing.T) {
	r := mustRouting(t, mixed, nil)
	now := time.Now()
	cases := []struct {
		fam   Family
		model string
		want  string // the set of first picks over 6 requests
	}{
		{FamilyOpenAI, "gpt-4o", "openai#1 openai#2"},
		{FamilyOpenAI, "o3", "openai#1 openai#2"},
		{FamilyOpenAI, "claude-sonnet-4-5", "relay"}, // claude is Anthropic-only; the relay (any, *) takes it
		{FamilyAnthropic, "claude-sonnet-4-5", "claude"},
		{FamilyAnthropic, "gpt-4o", "relay"},
		{FamilyOpenAI, "llama-3", "relay"},
		{FamilyOpenAI, "", "openai#1 openai#2"}, // no model: every target of the API (lowest tier)
		{FamilyAnthropic, "", "claude"},
	}
	for _, c := range cases {
		got := strings.Join(uniq(picks(t, r, c.fam, c.model, 6, now)), " ")
		if got != c.want {
			t.Errorf("%v %q: picks %q, want %q", c.fam, c.model, got, c.want)
		}
	}
}

func uniq(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	// stable order for comparison
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestRouting_Plan_NotServed(t *testing.T) {
	r := mustRouting(t, "targets:\n  - name: a\n    url: http://h/v1\n    keys: [k]\n    models: [gpt-*]\n", nil)
	if _, ok := r.Plan(FamilyOpenAI, []byte("claude-x")); ok {
		t.Error("claude-x is served, want not")
	}
	if plan, ok := r.Plan(FamilyAnthropic, []byte("gpt-4o")); !ok || !plan.Step().Translated {
		t.Error("gpt-4o on the Anthropic API: want served by the openai target, translated")
	}
	if _, ok := r.Plan(FamilyAnthropic, nil); ok {
		t.Error("a request without a model on the Anthropic API has a target, want none")
	}
}

// TestRouting_Entry: exact name, then the longest text before the first
// wildcard, then the earlier entry.
func TestRouting_Entry(t *testing.T) {
	r := mustRouting(t, mixed, nil)
	cases := []struct{ model, want string }{
		{"claude-opus-4-1", "claude-opus-4-1"},
		{"claude-opus-4-5", "claude-opus-*"},
		{"claude-haiku", "claude-*"},
		{"gpt-4o", "gpt-4o"},
		{"gpt-4-x", "gpt-4*"}, // "gpt-4" is longer than "gpt-"
		{"gpt-3-x", "gpt-*"},  // "gpt-*" and "gpt-*-x" both have prefix "gpt-": the earlier wins
		{"llama", ""},
	}
	for _, c := range cases {
		e := r.entry(c.model)
		got := ""
		if e != nil {
			got = e.Name
		}
		if got != c.want {
			t.Errorf("entry(%q) = %q, want %q", c.model, got, c.want)
		}
	}
}

func TestRouting_Plan_AliasAndTimeout(t *testing.T) {
	r := mustRouting(t, mixed, nil)
	plan, ok := r.Plan(FamilyOpenAI, []byte("fast"))
	if !ok {
		t.Fatal("fast not served")
	}
	if m, rw := plan.Rewrite(); m != "gpt-4o-mini" || !rw {
		t.Errorf("Rewrite() = %q, %v; want gpt-4o-mini, true", m, rw)
	}
	if got, want := plan.Step().FirstByteTimeout, 3*time.Second; got != want {
		t.Errorf("fast timeout = %v, want %v (the entry of gpt-4o-mini applies: gpt-4*)", got, want)
	}
	if plan.Requested != "fast" {
		t.Errorf("Requested = %q", plan.Requested)
	}
	plan, _ = r.Plan(FamilyAnthropic, []byte("claude-opus-4-1"))
	if got := plan.Step().FirstByteTimeout; got != 9*time.Second {
		t.Errorf("claude-opus-4-1 timeout = %v, want 9s", got)
	}
	plan, _ = r.Plan(FamilyOpenAI, []byte("gpt-4o"))
	if m, rw := plan.Rewrite(); m != "gpt-4o" || rw {
		t.Errorf("Rewrite() = %q, %v; want gpt-4o, false", m, rw)
	}
}

// TestPlan_Next is the fallback state machine.
func TestPlan_Next(t *testing.T) {
	r := mustRouting(t, mixed, nil)
	type step struct {
		kind   Kind
		goesOn bool
		name   string // step name after
		model  string // upstream model after
	}
	cases := []struct {
		fam   Family
		model string
		steps []step
	}{
		// gpt-4o: fallback [fast, claude-sonnet-4-5, deepseek-chat], default kinds.
		{FamilyOpenAI, "gpt-4o", []step{
			{KindRateLimit, true, "fast", "gpt-4o-mini"},                      // an alias in the chain: rewritten
			{KindServerError, true, "claude-sonnet-4-5", "claude-sonnet-4-5"}, // via the relay
			{KindUnreachable, true, "deepseek-chat", "deepseek-chat"},
			{KindTimeout, false, "deepseek-chat", "deepseek-chat"}, // chain exhausted
		}},
		// The chain is the requested model's only: gpt-4o-mini (fast) has none of its own,
		// and claude-sonnet-4-5's entry (claude-*) is not followed.
		{FamilyOpenAI, "gpt-4o", []step{
			{KindContextLength, false, "gpt-4o", "gpt-4o"}, // not in the default kinds
			{KindNone, false, "gpt-4o", "gpt-4o"},
			{KindTimeout, true, "fast", "gpt-4o-mini"},
		}},
		// On the Anthropic API only the relay and claude serve: every fallback has a target.
		{FamilyAnthropic, "claude-opus-4-5", []step{
			{KindRateLimit, false, "claude-opus-4-5", "claude-opus-4-5"}, // fallback_on: [context_length] only
			{KindContextLength, true, "claude-sonnet-4-5", "claude-sonnet-4-5"},
			{KindContextLength, false, "claude-sonnet-4-5", "claude-sonnet-4-5"},
		}},
		// An alias carries no fallback of its own.
		{FamilyOpenAI, "fast", []step{{KindRateLimit, false, "fast", "gpt-4o-mini"}}},
		// No model: no fallback.
		{FamilyOpenAI, "", []step{{KindUnreachable, false, "", ""}}},
	}
	for _, c := range cases {
		plan, ok := r.Plan(c.fam, []byte(c.model))
		if !ok {
			t.Fatalf("%q not served", c.model)
		}
		for i, s := range c.steps {
			if got := plan.Next(s.kind); got != s.goesOn {
				t.Errorf("%s step %d: Next(%v) = %v, want %v", c.model, i, s.kind, got, s.goesOn)
			}
			if st := plan.Step(); st.Name != s.name || st.Model != s.model {
				t.Errorf("%s step %d: at %q (%q), want %q (%q)", c.model, i, st.Name, st.Model, s.name, s.model)
			}
		}
	}
}

// TestPlan_FallbackToTheOtherAPI: a fallback model only the other API
// serves stays in the chain, translated (TRANSLATION.md).
func TestPlan_FallbackToTheOtherAPI(t *testing.T) {
	r := mustRouting(t, `targets:
  - {name: o, url: "http://o/v1", keys: [k1], models: ["gpt-*"]}
  - {name: c, url: "https://api.anthropic.com/v1", keys: [k2], models: ["claude-*"]}
models:
  gpt-4o: {fallback: [claude-x, gpt-4o-mini]}
`, nil)
	plan, _ := r.Plan(FamilyOpenAI, []byte("gpt-4o"))
	if !plan.Next(KindRateLimit) || plan.Step().Name != "claude-x" || !plan.Step().Translated {
		t.Errorf("after gpt-4o: %q (%v), want claude-x translated", plan.Step().Name, plan.Step().Translated)
	}
	if !plan.Next(KindRateLimit) || plan.Step().Name != "gpt-4o-mini" || plan.Step().Translated {
		t.Errorf("after claude-x: %q (%v), want gpt-4o-mini untranslated", plan.Step().Name, plan.Step().Translated)
	}
}

func TestPicker_Next_PriorityTiers(t *testing.T) {
	r := mustRouting(t, `targets:
  - {name: a, url: "http://a/v1", keys: [k1]}
  - {name: b, url: "http://b/v1", keys: [k2]}
  - {name: c, url: "http://c/v1", keys: [k3], priority: 1}
  - {name: d, url: "http://d/v1", keys: [k4], priority: 2}
`, nil)
	now := time.Now()
	if got := uniq(picks(t, r, FamilyOpenAI, "m", 10, now)); strings.Join(got, " ") != "a b" {
		t.Errorf("tier 0 usable: picks %v, want a b only", got)
	}
	r.CoolDown(target(r, "a"), "m", time.Minute, now)
	r.Disable(target(r, "b"), "unauthorized (401)", false, now)
	if got := uniq(picks(t, r, FamilyOpenAI, "m", 10, now)); strings.Join(got, " ") != "c" {
		t.Errorf("tier 0 unusable: picks %v, want c", got)
	}
	if got := uniq(picks(t, r, FamilyOpenAI, "other", 10, now)); strings.Join(got, " ") != "a" {
		t.Errorf("other model: picks %v, want a (its cooldown is for m only)", got)
	}
	// One request's retries: untried usable targets tier by tier, then repeats.
	plan, _ := r.Plan(FamilyOpenAI, []byte("other"))
	p := r.Picker(plan.Step())
	var seq []string
	for range 5 {
		tg, _, res := p.Next(now)
		if res != Picked {
			t.Fatalf("res = %v", res)
		}
		seq = append(seq, tg.Name)
	}
	if got, want := strings.Join(seq, " "), "a c d a c"; got != want {
		t.Errorf("retry order = %q, want %q", got, want)
	}
}

func TestPicker_Next_Weights(t *testing.T) {
	r := mustRouting(t, `targets:
  - {name: a, url: "http://a/v1", keys: [k1], weight: 1}
  - {name: b, url: "http://b/v1", keys: [k2], weight: 2}
  - {name: c, url: "http://c/v1", keys: [k3], weight: 7}
  - {name: z, url: "http://z/v1", keys: [k4], priority: 1, weight: 100}
`, nil)
	const n = 10000
	counts := map[string]int{}
	for _, name := range picks(t, r, FamilyOpenAI, "m", n, time.Now()) {
		counts[name]++
	}
	for name, w := range map[string]float64{"a": 0.1, "b": 0.2, "c": 0.7, "z": 0} {
		got := float64(counts[name]) / n
		if got < w*0.95 || got > w*1.05 {
			t.Errorf("%s: share %.4f, want %.2f ±5 %%", name, got, w)
		}
	}
	// Smooth: c (weight 7) never gets more than 3 picks in a row out of 10.
	seq := strings.Join(picks(t, r, FamilyOpenAI, "m2", 10, time.Now()), " ")
	if strings.Contains(seq, "c c c c") {
		t.Errorf("not smooth: %s", seq)
	}
}

func TestPicker_Next_AllCooling(t *testing.T) {
	r := mustRouting(t, `targets:
  - {name: a, url: "http://a/v1", keys: [k1]}
  - {name: b, url: "http://b/v1", keys: [k2]}
`, nil)
	now := time.Now()
	r.CoolDown(target(r, "a"), "m", 30*time.Second, now)
	r.CoolDown(target(r, "b"), "m", 10*time.Second, now)
	plan, _ := r.Plan(FamilyOpenAI, []byte("m"))
	p := r.Picker(plan.Step())
	tg, wait, res := p.Next(now)
	if res != Wait || tg.Name != "b" || wait != 10*time.Second {
		t.Errorf("Next = %v, %v, %v; want b, 10s, Wait", tg, wait, res)
	}
	if got := p.SoonestRecovery(now); got != 10*time.Second {
		t.Errorf("SoonestRecovery = %v", got)
	}
	// Past the cooldowns both are usable again.
	if _, _, res := p.Next(now.Add(31 * time.Second)); res != Picked {
		t.Errorf("after cooldown: %v", res)
	}
	// A request without a model cools the whole target.
	r.CoolDown(target(r, "a"), "", time.Minute, now)
	if got := uniq(picks(t, r, FamilyOpenAI, "x", 4, now)); strings.Join(got, " ") != "b" {
		t.Errorf("a cools whole: picks %v", got)
	}
}

func TestPicker_Next_Disabled(t *testing.T) {
	r := mustRouting(t, `targets:
  - {name: a, url: "http://a/v1", keys: [k1]}
  - {name: b, url: "http://b/v1", keys: [k2]}
`, nil)
	now := time.Now()
	a, b := target(r, "a"), target(r, "b")
	r.Disable(a, "unauthorized (401)", false, now)
	r.Disable(b, "quota exhausted (429 insufficient_quota)", true, now)
	plan, _ := r.Plan(FamilyOpenAI, []byte("m"))
	p := r.Picker(plan.Step())
	if _, _, res := p.Next(now); res != NoneUsable {
		t.Errorf("all disabled: %v, want NoneUsable", res)
	}
	// The quota key is on probation after QUOTA_RETRY_INTERVAL; the 401 one is not.
	later := now.Add(time.Hour)
	if got := uniq(picks(t, r, FamilyOpenAI, "m", 3, later)); strings.Join(got, " ") != "b" {
		t.Errorf("probation: %v, want b", got)
	}
	st := r.States(later)
	if st[0].State != "disabled" || st[1].State != "probation" || st[0].Reason != "unauthorized (401)" {
		t.Errorf("states = %+v", st)
	}
	if !st[0].NextCheck.Equal(now.Add(5 * time.Minute)) {
		t.Errorf("next check = %v", st[0].NextCheck)
	}
	// The background check: due after HEALTH_CHECK_INTERVAL; a 2xx enables.
	if due := r.DueChecks(now.Add(time.Minute)); len(due) != 0 {
		t.Errorf("due too early: %v", due)
	}
	due := r.DueChecks(now.Add(5 * time.Minute))
	if len(due) != 1 || due[0] != a {
		t.Fatalf("due = %v, want [a] (b is out of quota: not checked by a model list)", due)
	}
	if again := r.DueChecks(now.Add(5 * time.Minute)); len(again) != 0 {
		t.Errorf("a check in flight is due again: %v", again)
	}
	r.CheckResult(a, true, later)
	r.Succeeded(b, later)
	for _, s := range r.States(later) {
		if s.State != "ready" {
			t.Errorf("%s: %s, want ready", s.Name, s.State)
		}
	}
}

func TestRouting_CoolDown_Cap(t *testing.T) {
	r := mustRouting(t, "targets:\n  - {name: a, url: \"http://a/v1\", keys: [k1]}\n", nil)
	now := time.Now()
	until, capped := r.CoolDown(target(r, "a"), "m", time.Hour, now)
	if !capped || !until.Equal(now.Add(5*time.Minute)) {
		t.Errorf("CoolDown(1h) = %v, %v; want now+5m, capped", until, capped)
	}
	_, capped = r.CoolDown(target(r, "a"), "n", time.Minute, now)
	if capped {
		t.Error("1m capped")
	}
	st := r.States(now)[0]
	if st.State != "cooling" || len(st.Cooling) != 2 || st.Cooling[0].Model != "n" || st.Cooling[1].Model != "m" || !st.Cooling[1].Capped {
		t.Errorf("state = %+v", st)
	}
}

// TestBuild_CarriesStateOver: a reload keeps the state of targets whose name
// and key are unchanged, and drops it for changed ones.
func TestBuild_CarriesStateOver(t *testing.T) {
	old := mustRouting(t, `targets:
  - {name: a, url: "http://a/v1", keys: [k1]}
  - {name: b, url: "http://b/v1", keys: [k2]}
`, nil)
	now := time.Now()
	old.Disable(target(old, "a"), "unauthorized (401)", false, now)
	old.CoolDown(target(old, "b"), "m", time.Minute, now)
	var changes []Change
	old.OnChange(func(c Change) { changes = append(changes, c) })
	next := mustRouting(t, `targets:
  - {name: a, url: "http://a/v1", keys: [k1], weight: 3}
  - {name: b, url: "http://b/v1", keys: [k2-new]}
`, old)
	st := next.States(now)
	if st[0].State != "disabled" {
		t.Errorf("a: %s, want disabled (carried over)", st[0].State)
	}
	if st[1].State != "ready" {
		t.Errorf("b with a new key: %s, want ready", st[1].State)
	}
	next.Succeeded(target(next, "a"), now)
	if old.States(now)[0].State != "ready" {
		t.Error("old routing does not see the state of the new one")
	}
	if len(changes) != 1 || changes[0].Kind != ChangeEnable {
		t.Errorf("OnChange after reload: %+v", changes)
	}
}

func TestRouting_Apply(t *testing.T) {
	r := mustRouting(t, "targets:\n  - {name: a, url: \"http://a/v1\", keys: [k1]}\n", nil)
	other := mustRouting(t, "targets:\n  - {name: a, url: \"http://a/v1\", keys: [k1]}\n", nil)
	var got []Change
	r.OnChange(func(c Change) { got = append(got, c) })
	now := time.Now()
	r.CoolDown(target(r, "a"), "m", time.Minute, now)
	r.Disable(target(r, "a"), "unauthorized (401)", false, now)
	if len(got) != 2 {
		t.Fatalf("changes = %+v", got)
	}
	for _, c := range got {
		other.Apply(c)
	}
	st := other.States(now)[0]
	if st.State != "disabled" || len(st.Cooling) != 1 || st.Cooling[0].Model != "m" {
		t.Errorf("applied state = %+v", st)
	}
	var again []Change
	other.OnChange(func(c Change) { again = append(again, c) })
	other.Apply(Change{Kind: ChangeEnable, Target: target(other, "a").ID, At: now})
	if len(again) != 0 || other.States(now)[0].State != "cooling" {
		t.Errorf("Apply notified %v or did not enable: %+v", again, other.States(now)[0])
	}
	other.Apply(Change{Kind: ChangeCool, Target: "nope", Until: now.Add(time.Hour)}) // ignored
}

func TestFromEnv(t *testing.T) {
	u := mustURL("http://up/v1")
	r, err := FromEnv([]TargetSpec{{Name: "up#1", URL: u, Key: "k1"}, {Name: "up#2", URL: u, Key: "k2"}}, nil, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.FromFile() {
		t.Error("FromFile")
	}
	for _, fam := range []Family{FamilyOpenAI, FamilyAnthropic} {
		for _, m := range []string{"gpt-4o", "claude-x", "anything", ""} {
			if got := uniq(picks(t, r, fam, m, 4, time.Now())); strings.Join(got, " ") != "up#1 up#2" {
				t.Errorf("%v %q: %v", fam, m, got)
			}
		}
	}
	f, err := Parse("m.yaml", []byte("models:\n  fast: {to: gpt-4o-mini}\n"), lookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	r, err = FromEnv([]TargetSpec{{Name: "up", URL: u, Key: "k1"}}, f, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, _ := r.Plan(FamilyOpenAI, []byte("fast"))
	if m, _ := plan.Rewrite(); m != "gpt-4o-mini" || !r.FromFile() {
		t.Errorf("alias with env targets: %q", m)
	}
	if _, err := FromEnv(nil, nil, Options{}, nil); err == nil {
		t.Error("no targets: no error")
	}
}
