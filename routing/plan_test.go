package routing

import (
	"testing"
	"time"
)

// TestRouting_Plan_Translate: the other API's targets become eligible only
// when no target of the request's API is configured for the model, whatever
// the state of the same-API targets.
func TestRouting_Plan_Translate(t *testing.T) {
	r := mustRouting(t, `targets:
  - {name: o, url: "http://o/v1", keys: [k1], api: openai, models: ["gpt-*", "shared-*"]}
  - {name: c, url: "http://c/v1", keys: [k2], api: anthropic, models: ["claude-*", "shared-*"]}
  - {name: any, url: "http://a/v1", keys: [k3], api: any, models: ["both-*"]}
`, nil)
	cases := []struct {
		fam    Family
		model  string
		ok     bool
		target string
		want   bool
	}{
		{FamilyOpenAI, "gpt-4o", true, "o", false},
		{FamilyAnthropic, "claude-x", true, "c", false},
		{FamilyOpenAI, "claude-x", true, "c", true},
		{FamilyAnthropic, "gpt-4o", true, "o", true},
		{FamilyOpenAI, "shared-1", true, "o", false},
		{FamilyAnthropic, "shared-1", true, "c", false},
		{FamilyOpenAI, "both-1", true, "any", false},
		{FamilyAnthropic, "both-1", true, "any", false},
		{FamilyOpenAI, "llama", false, "", false},
	}
	now := time.Now()
	for _, c := range cases {
		plan, ok := r.Plan(c.fam, []byte(c.model))
		if ok != c.ok {
			t.Errorf("%v %q: served %v, want %v", c.fam, c.model, ok, c.ok)
			continue
		}
		if !ok {
			continue
		}
		if got := plan.Step().Translated; got != c.want {
			t.Errorf("%v %q: translate %v, want %v", c.fam, c.model, got, c.want)
		}
		p := r.Picker(plan.Step())
		tg, _, res := p.Next(now)
		if res != Picked || tg.Name != c.target {
			t.Errorf("%v %q: picked %v, want %q", c.fam, c.model, tg, c.target)
		}
	}
}

// TestRouting_Plan_SameAPIDisabledDoesNotTranslate: a same-API target that
// is disabled still serves the model: the request does not switch API.
func TestRouting_Plan_SameAPIDisabledDoesNotTranslate(t *testing.T) {
	r := mustRouting(t, `targets:
  - {name: o, url: "http://o/v1", keys: [k1], api: openai, models: ["m"]}
  - {name: c, url: "http://c/v1", keys: [k2], api: anthropic, models: ["m"]}
`, nil)
	now := time.Now()
	r.Disable(target(r, "o"), "invalid key", false, now)
	plan, ok := r.Plan(FamilyOpenAI, []byte("m"))
	if !ok {
		t.Fatal("m not served")
	}
	if plan.Step().Translated {
		t.Error("translated, want the same API")
	}
	p := r.Picker(plan.Step())
	if tg, _, res := p.Next(now); res == Picked {
		t.Errorf("picked %q, want no usable target (the anthropic one is not eligible)", tg.Name)
	}
}
