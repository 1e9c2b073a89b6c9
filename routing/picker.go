package routing

import "time"

// Picker chooses the targets of one model's attempts within one request:
// untried usable targets of the lowest tier first (smooth weighted round
// robin within the tier), then untried ones of the next tier, and so on;
// only then does a target repeat. It is a value: no allocation per request.
type Picker struct {
	r     *Routing
	g     *group
	model string // the cooldown key: the upstream model ("" for requests without one)
	tried bitset
}

// Picker returns the picker for one step of a plan.
func (r *Routing) Picker(s *Step) Picker {
	return Picker{r: r, g: s.g, model: s.Model}
}

// Pick is the picker's answer.
type Pick uint8

// The picker's answers.
const (
	// Picked: use the target now.
	Picked Pick = iota
	// Wait: every eligible target is cooling; the target is the one that
	// recovers soonest, after the returned wait.
	Wait
	// NoneUsable: every eligible target's key is disabled.
	NoneUsable
)

// Next returns the next target to try at now.
func (p *Picker) Next(now time.Time) (*Target, time.Duration, Pick) {
	if p.g == nil {
		return nil, 0, NoneUsable
	}
	n := now.UnixNano()
	if t := p.pick(n, true); t != nil {
		return t, 0, Picked
	}
	if t := p.pick(n, false); t != nil { // every usable target was tried: a new round
		p.tried.clear()
		p.tried.add(t.Index)
		return t, 0, Picked
	}
	// Nothing usable now: the cooling target that recovers soonest, if any.
	var best *Target
	var bestUntil int64
	for _, tr := range p.g.tiers {
		for _, t := range tr.targets {
			if !healthy(t, n) {
				continue
			}
			if until := t.st.coolingUntil(p.model, n); until > 0 && (best == nil || until < bestUntil) {
				best, bestUntil = t, until
			}
		}
	}
	if best == nil {
		return nil, 0, NoneUsable
	}
	p.tried.add(best.Index)
	return best, time.Duration(bestUntil - n), Wait
}

// healthy reports whether t's key may be used at n (enabled, or on probation).
func healthy(t *Target, n int64) bool {
	h := t.st.health.Load()
	return h == healthOK || h == healthQuota && t.st.usableAt.Load() <= n
}

// pick runs the smooth weighted round robin of nginx over the lowest tier
// that has a usable (and, with untriedOnly, untried) target: each candidate
// gains its weight, the one with the most is chosen and loses the sum of the
// candidates' weights. Over any run of picks each target gets its share of
// weight exactly, spread out rather than in bursts.
func (p *Picker) pick(n int64, untriedOnly bool) *Target {
	quiet := p.r.dom.quiet(n) // no key disabled, nothing cooling: every target is usable
	for _, tr := range p.g.tiers {
		if len(tr.targets) == 1 { // nothing to rotate: no lock
			t := tr.targets[0]
			if (!untriedOnly || !p.tried.has(t.Index)) && p.usable(t, n) {
				p.tried.add(t.Index)
				return t
			}
			continue
		}
		tr.mu.Lock()
		best, total := -1, 0
		ms := tr.members
		for i := range ms {
			m := &ms[i]
			if untriedOnly && p.tried.has(int(m.index)) || !quiet && !usable(m.st, p.model, n) {
				continue
			}
			m.current += int(m.weight)
			total += int(m.weight)
			if best < 0 || m.current > ms[best].current {
				best = i
			}
		}
		if best >= 0 {
			ms[best].current -= total
			t := tr.targets[best]
			tr.mu.Unlock()
			p.tried.add(t.Index)
			return t
		}
		tr.mu.Unlock()
	}
	return nil
}

func (p *Picker) usable(t *Target, n int64) bool { return usable(t.st, p.model, n) }

// usable reports whether a target with state s may take model at n: its key
// is healthy (or on probation) and it is not cooling for model.
func usable(s *targetState, model string, n int64) bool {
	if h := s.health.Load(); h != healthOK && (h != healthQuota || s.usableAt.Load() > n) {
		return false
	}
	if s.whole.Load() > n {
		return false
	}
	return s.anyCool.Load() <= n || model == "" || s.coolingUntil(model, n) == 0
}

// SoonestRecovery returns the wait until the first cooling eligible target
// recovers, or 0 when none is cooling.
func (p *Picker) SoonestRecovery(now time.Time) time.Duration {
	if p.g == nil {
		return 0
	}
	n := now.UnixNano()
	var best int64
	for _, tr := range p.g.tiers {
		for _, t := range tr.targets {
			if until := t.st.coolingUntil(p.model, n); until > 0 && (best == 0 || until < best) {
				best = until
			}
		}
	}
	if best == 0 {
		return 0
	}
	return time.Duration(best - n)
}

// AllDisabled reports whether every eligible target of the step has its
// key disabled at now (none on probation): the answer is 503, never the
// upstream's 401.
func (r *Routing) AllDisabled(s *Step, now time.Time) bool {
	if s.g == nil {
		return true
	}
	n := now.UnixNano()
	for _, tr := range s.g.tiers {
		for _, t := range tr.targets {
			if healthy(t, n) {
				return false
			}
		}
	}
	return true
}

// FirstUsable returns the first of ts whose key is usable at now (enabled,
// or on probation), or nil.
func (r *Routing) FirstUsable(ts []*Target, now time.Time) *Target {
	n := now.UnixNano()
	for _, t := range ts {
		if healthy(t, n) {
			return t
		}
	}
	return nil
}
