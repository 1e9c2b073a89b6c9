package routing

import "time"

// Step is one model of a request's fallback chain.
type Step struct {
	// Name is the model as the client sent it (step 0) or as the fallback
	// list names it (an alias name stays an alias name here).
	Name string
	// Model is what the upstream gets in the body's model field.
	Model string
	// FirstByteTimeout is the model's own first-byte timeout; 0: the default.
	FirstByteTimeout time.Duration
	// Translated says this step's attempts go to the other API's targets,
	// translated: no target of the request's API is configured for the
	// model (whatever its state) (TRANSLATION.md).
	Translated bool
	g          *group
}

// Plan is the fallback state machine of one request: the requested model
// first, then the models of its fallback list that have an eligible target
// for the request's family, in order. Chains do not nest: only the requested
// model's list is followed, with its fallback_on. A value: no allocation.
type Plan struct {
	// Requested is the model as the client sent it; messages name it.
	Requested string
	on        KindSet
	steps     [1 + MaxFallback]Step
	n, i      int
}

// Plan returns the fallback plan for a request of family fam for model (as
// in the body; empty for requests without a model). ok is false when no
// target at all is eligible for the requested model: the answer is 404
// `model "x" is not served by any target`, and nothing is sent upstream.
func (r *Routing) Plan(fam Family, model []byte) (plan Plan, ok bool) {
	if len(model) == 0 {
		plan.steps[0] = Step{g: r.none[fam]}
		plan.n = 1
		return plan, r.none[fam] != nil
	}
	res := r.resolve(model)
	if !res.eligible(fam) {
		return plan, false
	}
	plan.Requested = res.name
	plan.steps[0] = r.step(plan.Requested, res, fam)
	plan.n = 1
	if e := res.entry; e != nil {
		plan.on = e.FallbackOn
		for _, name := range e.Fallback {
			fr := r.resolveName(name)
			if !fr.eligible(fam) {
				continue // served by no target at all
			}
			plan.steps[plan.n] = r.step(name, fr, fam)
			plan.n++
		}
	}
	return plan, true
}

// eligible reports whether a request of family fam for this model has
// targets: of its own API, or else of the other one (translated).
func (res *resolved) eligible(fam Family) bool {
	return res.groups[fam] != nil || res.groups[other(fam)] != nil
}

// other is the other family.
func other(fam Family) Family { return 1 - fam }

// step makes the step for a model: its own API's targets when any is
// configured for it (same-API targets are always preferred, whatever their
// state), else the other API's, translated.
func (r *Routing) step(name string, res *resolved, fam Family) Step {
	s := Step{Name: name, Model: res.upstream, g: res.groups[fam]}
	if s.g == nil {
		s.g, s.Translated = res.groups[other(fam)], true
	}
	if res.entry != nil {
		s.FirstByteTimeout = res.entry.FirstByteTimeout
	}
	return s
}

// Step returns the current step.
func (p *Plan) Step() *Step { return &p.steps[p.i] }

// Rewrite reports whether the body's model must be rewritten for the current
// step (an alias, or a fallback model), and to what.
func (p *Plan) Rewrite() (string, bool) {
	s := &p.steps[p.i]
	return s.Model, s.Model != p.Requested
}

// Next moves to the next model when the current one's attempts ended in a
// kind listed in fallback_on and a model is left. It reports whether the
// request goes on.
func (p *Plan) Next(k Kind) bool {
	if !p.on.Has(k) || p.i+1 >= p.n {
		return false
	}
	p.i++
	return true
}

// FallsBackOn reports whether kind k moves this plan on (when a model is left).
func (p *Plan) FallsBackOn(k Kind) bool { return p.on.Has(k) && p.i+1 < p.n }
