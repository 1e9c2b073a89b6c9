package upstream

import "time"

// CooldownShare spreads cooldowns between replicas (REPLICAS.md): what one
// replica learns from a Retry-After, the others honour. It is the small seam
// between the targets' cooldown state and whatever shares it (the
// PostgreSQL store); without one, cooldowns stay local.
type CooldownShare interface {
	// Learned is called when a target enters (or extends) a cooldown on
	// this replica. model is "" while cooldowns are per target. It must not
	// block: it runs on the request path.
	Learned(target, model string, until time.Time)
}

// SetCooldownShare makes every target report the cooldowns it learns to
// share. Call it before serving; nil turns sharing off.
func (p *Targets) SetCooldownShare(share CooldownShare) {
	for _, t := range p.targets {
		if share == nil {
			t.share.Store(nil)
		} else {
			t.share.Store(&share)
		}
	}
}

// ApplyCooldown puts the named target in cooldown until until because
// another replica learned it; it is not reported back to the share. An
// unknown target (configured on the other replica only) is ignored; model is
// unused while cooldowns are per target. It reports whether a target took it.
func (p *Targets) ApplyCooldown(target, model string, until time.Time) bool {
	for _, t := range p.targets {
		if t.name == target {
			t.raiseCooldown(until.UnixNano())
			return true
		}
	}
	return false
}

// raiseCooldown moves the end of the cooldown to until unless a later one
// runs; it reports whether it moved.
func (t *Target) raiseCooldown(until int64) bool {
	for {
		cur := t.coolUntil.Load()
		if cur >= until {
			return false
		}
		if t.coolUntil.CompareAndSwap(cur, until) {
			return true
		}
	}
}
