package routing

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Health of a target's key.
const (
	healthOK       uint32 = iota
	healthDisabled        // the key is unusable; re-checked in the background
	healthQuota           // out of quota or credit: back on probation after QUOTA_RETRY_INTERVAL
)

// targetState is the mutable state of one target: cooldowns per model and
// key health. It is shared by every routing built from the same target name
// and key (reloads carry it over), so in-flight requests on an old routing
// and new ones on the current routing see the same state.
type targetState struct {
	whole    atomic.Int64 // unix nanos: the whole target cools until then (requests without a model)
	anyCool  atomic.Int64 // unix nanos: the latest per-model cooldown end (0: none): skips the lock when past
	health   atomic.Uint32
	usableAt atomic.Int64 // healthQuota: on probation from then (unix nanos)

	dom *domain // shared by every target of a routing and its reloads

	mu         sync.Mutex
	cool       map[string]cooling // model -> cooldown
	wholeCap   bool
	reason     string
	disabledAt time.Time
	nextCheck  time.Time // healthDisabled: next background check
}

// domain is what the targets of a routing (and of the routings that
// followed it by reload) have in common: whether any key is disabled and the
// latest end of any cooldown. While no key is disabled and nothing cools,
// choosing a target skips the per-target checks.
type domain struct {
	disabled  atomic.Int32 // keys not healthOK
	coolUntil atomic.Int64 // unix nanos: the latest cooldown end of any target
}

// quiet reports whether, at n, no key is disabled and no target cools.
func (d *domain) quiet(n int64) bool {
	return d.disabled.Load() == 0 && d.coolUntil.Load() <= n
}

func (d *domain) cooling(until int64) {
	for {
		cur := d.coolUntil.Load()
		if cur >= until || d.coolUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

type cooling struct {
	until  int64
	capped bool
}

// keyID identifies a target across reloads: its name and a fingerprint of
// its URL and key (the key itself is never kept outside the target).
func keyID(name, url, key string) string {
	sum := sha256.Sum256([]byte(url + "\x00" + key))
	return name + "/" + hex.EncodeToString(sum[:6])
}

// coolingUntil returns the end of the cooldown of (target, model) at now, 0 when not cooling.
func (s *targetState) coolingUntil(model string, now int64) int64 {
	until := s.whole.Load()
	if until <= now {
		until = 0
	}
	if s.anyCool.Load() <= now || model == "" {
		return until
	}
	s.mu.Lock()
	c := s.cool[model]
	s.mu.Unlock()
	if c.until > now && c.until > until {
		until = c.until
	}
	return until
}

// ChangeKind is what a Change does.
type ChangeKind uint8

// The kinds of state change.
const (
	ChangeCool    ChangeKind = iota + 1 // (target, model) cools until Until
	ChangeDisable                       // the target's key is unusable
	ChangeEnable                        // the target's key works again
)

// Change is one change of shared routing state, as given to OnChange and
// taken by Apply: how several proxy replicas share cooldowns and key health
// through a store.
type Change struct {
	Kind ChangeKind
	// Target is the target's ID (Target.ID): name and key fingerprint.
	Target string
	// Model is the cooled model; "" cools the whole target (ChangeCool only).
	Model string
	// Until: ChangeCool: end of the cooldown. ChangeDisable: the next
	// background check, or for Quota the start of probation.
	Until time.Time
	// Capped: the upstream asked for more than MAX_COOLDOWN (ChangeCool only).
	Capped bool
	// Reason says why a key was disabled (ChangeDisable only); never holds a key.
	Reason string
	// Quota: disabled for quota or credit, which a model list does not prove back (ChangeDisable only).
	Quota bool
	At    time.Time
}

// hooks holds the change callback; one instance is shared across reloads.
type hooks struct {
	fn atomic.Pointer[func(Change)]
}

func (h *hooks) emit(c Change) {
	if fn := h.fn.Load(); fn != nil {
		(*fn)(c)
	}
}

// OnChange registers fn to be called after every change of cooldown or key
// health made by this process (not by Apply). fn runs on the request's
// goroutine: it must not block. It stays registered across reloads.
func (r *Routing) OnChange(fn func(Change)) {
	if fn == nil {
		r.hooks.fn.Store(nil)
		return
	}
	r.hooks.fn.Store(&fn)
}

// Apply applies a change made elsewhere (another replica), without calling
// OnChange. A change for an unknown target is ignored.
func (r *Routing) Apply(c Change) {
	t := r.byID[c.Target]
	if t == nil {
		return
	}
	switch c.Kind {
	case ChangeCool:
		t.st.setCool(c.Model, c.Until.UnixNano(), c.Capped)
	case ChangeDisable:
		t.st.disable(c.Reason, c.Quota, c.At, c.Until)
	case ChangeEnable:
		t.st.enable()
	}
}

func (s *targetState) setCool(model string, until int64, capped bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dom.cooling(until)
	if model == "" {
		if s.whole.Load() >= until {
			return false
		}
		s.whole.Store(until)
		s.wholeCap = capped
		return true
	}
	if s.cool == nil {
		s.cool = map[string]cooling{}
	}
	if c, ok := s.cool[model]; ok && c.until >= until {
		return false
	}
	now := time.Now().UnixNano()
	for m, c := range s.cool { // drop ended cooldowns: the map stays as small as what cools now
		if c.until <= now {
			delete(s.cool, m)
		}
	}
	s.cool[model] = cooling{until: until, capped: capped}
	if s.anyCool.Load() < until {
		s.anyCool.Store(until)
	}
	return true
}

func (s *targetState) disable(reason string, quota bool, at, until time.Time) {
	s.mu.Lock()
	s.reason, s.disabledAt, s.nextCheck = reason, at, until
	s.mu.Unlock()
	h := healthDisabled
	if quota {
		s.usableAt.Store(until.UnixNano())
		h = healthQuota
	}
	if s.health.Swap(h) == healthOK {
		s.dom.disabled.Add(1)
	}
}

func (s *targetState) enable() {
	if s.health.Swap(healthOK) != healthOK {
		s.dom.disabled.Add(-1)
	}
	s.mu.Lock()
	s.reason, s.disabledAt, s.nextCheck = "", time.Time{}, time.Time{}
	s.mu.Unlock()
}

// CoolDown puts (t, model) in cooldown for d from now (model "" cools the
// whole target), capped at MAX_COOLDOWN. A longer running cooldown is kept.
// It returns the cooldown's end and whether the cap was applied.
func (r *Routing) CoolDown(t *Target, model string, d time.Duration, now time.Time) (until time.Time, capped bool) {
	if r.opts.MaxCooldown > 0 && d > r.opts.MaxCooldown {
		d, capped = r.opts.MaxCooldown, true
	}
	until = now.Add(d)
	if t.st.setCool(model, until.UnixNano(), capped) {
		r.hooks.emit(Change{Kind: ChangeCool, Target: t.ID, Model: model, Until: until, Capped: capped, At: now})
	}
	return until, capped
}

// Disable marks t's key unusable (all models) for reason. A quota/credit
// problem puts it back on probation after QUOTA_RETRY_INTERVAL; any other is
// re-checked in the background every HEALTH_CHECK_INTERVAL.
func (r *Routing) Disable(t *Target, reason string, quota bool, now time.Time) {
	next := now.Add(r.opts.HealthCheckInterval)
	if quota {
		next = now.Add(r.opts.QuotaRetryInterval)
	}
	t.st.disable(reason, quota, now, next)
	r.hooks.emit(Change{Kind: ChangeDisable, Target: t.ID, Until: next, Reason: reason, Quota: quota, At: now})
}

// Succeeded notes that t answered with success: a key on probation is
// enabled again. Cheap (one atomic load) when the key is healthy.
func (r *Routing) Succeeded(t *Target, now time.Time) {
	if t.st.health.Load() == healthOK {
		return
	}
	t.st.enable()
	r.hooks.emit(Change{Kind: ChangeEnable, Target: t.ID, At: now})
}

// DueChecks returns the disabled targets (not those out of quota) whose
// background check is due at now, and moves their next check one
// HEALTH_CHECK_INTERVAL on, so a slow check is not started twice.
func (r *Routing) DueChecks(now time.Time) []*Target {
	var due []*Target
	for _, t := range r.targets {
		if t.st.health.Load() != healthDisabled {
			continue
		}
		t.st.mu.Lock()
		if !t.st.nextCheck.After(now) {
			t.st.nextCheck = now.Add(r.opts.HealthCheckInterval)
			due = append(due, t)
		}
		t.st.mu.Unlock()
	}
	return due
}

// CheckResult records a background check of t: ok (a 2xx) enables it again.
func (r *Routing) CheckResult(t *Target, ok bool, now time.Time) {
	if ok {
		r.Succeeded(t, now)
	}
}

// TargetState is one target as the dashboard and /api/stats show it.
type TargetState struct {
	Name  string
	Group string
	// State is "ready", "cooling", "disabled" or "probation".
	State   string
	Cooling []ModelCooling // per model ("" = the whole target), soonest end first
	// Reason, Since and NextCheck describe a disabled (or probation) key.
	Reason    string
	Since     time.Time
	NextCheck time.Time
}

// ModelCooling is one cooldown of a target.
type ModelCooling struct {
	Model  string // "" for the whole target
	Until  time.Time
	Capped bool // the upstream asked for more than MAX_COOLDOWN
}

// States returns every target's state at now, in file order.
func (r *Routing) States(now time.Time) []TargetState {
	out := make([]TargetState, len(r.targets))
	n := now.UnixNano()
	for i, t := range r.targets {
		s := t.st
		ts := TargetState{Name: t.Name, Group: t.Group, State: "ready"}
		s.mu.Lock()
		if w := s.whole.Load(); w > n {
			ts.Cooling = append(ts.Cooling, ModelCooling{Until: time.Unix(0, w), Capped: s.wholeCap})
		}
		for m, c := range s.cool {
			if c.until > n {
				ts.Cooling = append(ts.Cooling, ModelCooling{Model: m, Until: time.Unix(0, c.until), Capped: c.capped})
			}
		}
		reason, since, next := s.reason, s.disabledAt, s.nextCheck
		s.mu.Unlock()
		sort.Slice(ts.Cooling, func(a, b int) bool { return ts.Cooling[a].Until.Before(ts.Cooling[b].Until) })
		if len(ts.Cooling) > 0 {
			ts.State = "cooling"
		}
		switch s.health.Load() {
		case healthDisabled:
			ts.State, ts.Reason, ts.Since, ts.NextCheck = "disabled", reason, since, next
		case healthQuota:
			ts.State, ts.Reason, ts.Since, ts.NextCheck = "disabled", reason, since, next
			if s.usableAt.Load() <= n {
				ts.State = "probation"
			}
		}
		out[i] = ts
	}
	return out
}
