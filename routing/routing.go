// Package routing decides where a request goes (ROUTING.md): the routing
// file (parse, validate, ${VAR}), model patterns and aliases, the chooser
// (priority tiers, smooth weighted round robin, untried first), cooldown per
// (target, model), key health and fallback chains. It holds pure state and
// decisions: no sockets, no HTTP; the upstream package asks it for targets
// and reports what happened.
package routing

import (
	"fmt"
	"net/url"
	"sort"
	"sync"
	"time"
)

// Options are the settings of a routing that come from the environment.
type Options struct {
	// MaxCooldown caps a cooldown asked for by Retry-After; 0: no cap.
	MaxCooldown time.Duration
	// QuotaRetryInterval is how long a key out of quota or credit stays
	// disabled before the next real request may try it (probation).
	QuotaRetryInterval time.Duration
	// HealthCheckInterval is how often a disabled key is re-checked.
	HealthCheckInterval time.Duration
}

// Target is one upstream (URL, key) of a routing.
type Target struct {
	TargetSpec
	// Index is the target's position in Routing.Targets.
	Index int
	// ID identifies the target across reloads (name and a key fingerprint);
	// state carries over between targets with the same ID.
	ID string
	st *targetState
}

// String returns the target's name.
func (t *Target) String() string { return t.Name }

// Routing is one loaded routing: its targets, model entries and the state
// of its targets. It is safe for concurrent use. A reload builds a new
// Routing (Build with the previous one) and swaps it in.
type Routing struct {
	file    *File // nil: from PROXY_URL/API_KEY
	targets []*Target
	byID    map[string]*Target
	models  []ModelSpec
	opts    Options
	hooks   *hooks
	dom     *domain
	loaded  time.Time

	mu     sync.RWMutex
	cache  map[string]*resolved // requested model -> resolution
	groups map[groupKey]*group
	none   [numFamilies]*group // requests without a model
}

// maxCached bounds the resolved-model cache: model names come from clients.
// Beyond it a model is resolved on every request (slower, still correct:
// the rotation state lives in the interned groups, not in the cache).
const maxCached = 4096

// resolved is what a requested model name means in this routing.
type resolved struct {
	name     string     // the requested model (shared, so a plan needs no copy)
	upstream string     // the model sent upstream (after an alias)
	entry    *ModelSpec // the entry that governs upstream (fallback, timeout); nil: none
	groups   [numFamilies]*group
}

// FromEnv builds the routing of PROXY_URL/API_KEY: every spec is one target
// of api any, models ["*"], weight 1, priority 0, in one tier. models may
// hold the models: section of a routing file without targets (or be nil).
func FromEnv(specs []TargetSpec, models *File, opts Options, prev *Routing) (*Routing, error) {
	f := &File{}
	if models != nil {
		f.Path, f.Models = models.Path, models.Models
	}
	for _, s := range specs {
		s.API, s.Models, s.Weight, s.Priority = APIAny, []Glob{"*"}, 1, 0
		if s.Group == "" {
			s.Group = s.Name
		}
		f.Targets = append(f.Targets, s)
	}
	r, err := Build(f, opts, prev)
	if err == nil && models == nil {
		r.file = nil
	}
	return r, err
}

// Build makes a routing from a parsed file. With prev (a reload), the state
// of targets whose name and key are unchanged carries over, and so does the
// OnChange callback.
func Build(f *File, opts Options, prev *Routing) (*Routing, error) {
	if len(f.Targets) == 0 {
		return nil, &Error{File: f.Path, Msg: "no targets: give targets: in the file, or PROXY_URL and API_KEY"}
	}
	if len(f.Targets) > MaxTargets {
		return nil, &Error{File: f.Path, Msg: fmt.Sprintf("more than %d targets", MaxTargets)}
	}
	if opts.QuotaRetryInterval <= 0 {
		opts.QuotaRetryInterval = time.Hour
	}
	if opts.HealthCheckInterval <= 0 {
		opts.HealthCheckInterval = 5 * time.Minute
	}
	r := &Routing{
		file:   f,
		models: f.Models,
		opts:   opts,
		hooks:  &hooks{},
		dom:    &domain{},
		loaded: time.Now(),
		byID:   make(map[string]*Target, len(f.Targets)),
		cache:  map[string]*resolved{},
		groups: map[groupKey]*group{},
	}
	if prev != nil {
		r.hooks, r.dom = prev.hooks, prev.dom
	}
	for i, s := range f.Targets {
		t := &Target{TargetSpec: s, Index: i, ID: keyID(s.Name, urlString(s.URL), s.Key)}
		if _, dup := r.byID[t.ID]; dup {
			return nil, &Error{File: f.Path, Line: s.Line, Msg: fmt.Sprintf("target %q is given twice", s.Name)}
		}
		if prev != nil {
			if old := prev.byID[t.ID]; old != nil {
				t.st = old.st
			}
		}
		if t.st == nil {
			t.st = &targetState{dom: r.dom}
		}
		r.targets = append(r.targets, t)
		r.byID[t.ID] = t
	}
	for fam := Family(0); fam < numFamilies; fam++ {
		var set bitset
		for _, t := range r.targets {
			if t.API.Serves(fam) {
				set.add(t.Index)
			}
		}
		r.none[fam] = r.group(fam, set)
	}
	return r, nil
}

func urlString(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.String()
}

// Targets returns the targets in file order (one per key).
func (r *Routing) Targets() []*Target { return r.targets }

// Models returns the models: entries in file order.
func (r *Routing) Models() []ModelSpec { return r.models }

// FromFile reports whether the routing came from a routing file with targets
// or models (false for plain PROXY_URL/API_KEY).
func (r *Routing) FromFile() bool { return r.file != nil }

// Path returns the routing file's path ("" without a file).
func (r *Routing) Path() string {
	if r.file == nil {
		return ""
	}
	return r.file.Path
}

// LoadedAt returns when the routing was built.
func (r *Routing) LoadedAt() time.Time { return r.loaded }

// Aliases returns the alias names of the models: section, in file order.
func (r *Routing) Aliases() []string {
	var out []string
	for _, m := range r.models {
		if m.To != "" {
			out = append(out, m.Name)
		}
	}
	return out
}

// Serves reports whether t serves model (by its models: patterns).
func (t *Target) Serves(model string) bool {
	for _, g := range t.Models {
		if g.Match(model) {
			return true
		}
	}
	return false
}

// resolve returns what the requested model means. The cached path takes a
// read lock and a map lookup, no allocation.
func (r *Routing) resolve(model []byte) *resolved {
	r.mu.RLock()
	res := r.cache[string(model)]
	r.mu.RUnlock()
	if res != nil {
		return res
	}
	return r.resolveMiss(string(model))
}

// resolveName is resolve for a string.
func (r *Routing) resolveName(name string) *resolved {
	r.mu.RLock()
	res := r.cache[name]
	r.mu.RUnlock()
	if res != nil {
		return res
	}
	return r.resolveMiss(name)
}

func (r *Routing) resolveMiss(name string) *resolved {
	res := r.compute(name)
	r.mu.Lock()
	if old := r.cache[name]; old != nil {
		res = old
	} else if len(r.cache) < maxCached {
		r.cache[name] = res
	}
	r.mu.Unlock()
	return res
}

func (r *Routing) compute(name string) *resolved {
	res := &resolved{name: name, upstream: name}
	if e := r.entry(name); e != nil && e.To != "" {
		res.upstream = e.To
	}
	res.entry = r.entry(res.upstream)
	if res.entry != nil && res.entry.To != "" {
		res.entry = nil // aliases do not chain (refused at load); never follow one
	}
	for fam := Family(0); fam < numFamilies; fam++ {
		var set bitset
		for _, t := range r.targets {
			if t.API.Serves(fam) && t.Serves(res.upstream) {
				set.add(t.Index)
			}
		}
		if !set.empty() {
			res.groups[fam] = r.group(fam, set)
		}
	}
	return res
}

// entry returns the models: entry for name: the exact name wins, then the
// pattern with the longest text before its first wildcard, then the earlier
// one in the file. nil when none matches.
func (r *Routing) entry(name string) *ModelSpec {
	var best *ModelSpec
	bestLen := -1
	for i := range r.models {
		m := &r.models[i]
		if !IsPattern(m.Name) {
			if m.Name == name {
				return m
			}
			continue
		}
		if g := Glob(m.Name); g.Match(name) && len(g.Prefix()) > bestLen {
			best, bestLen = m, len(g.Prefix())
		}
	}
	return best
}

// bitset is a set of target indexes.
type bitset [MaxTargets / 64]uint64

func (b *bitset) add(i int)      { b[i>>6] |= 1 << (i & 63) }
func (b *bitset) has(i int) bool { return b[i>>6]&(1<<(i&63)) != 0 }
func (b *bitset) empty() bool    { return *b == bitset{} }
func (b *bitset) clear()         { *b = bitset{} }

type groupKey struct {
	fam Family
	set bitset
}

// group is one set of eligible targets, split into priority tiers; every
// model (and family) with the same eligible set shares it, and with it its
// rotation state.
type group struct {
	tiers []*tier
}

// tier is the targets of one priority within a group, with the state of
// their smooth weighted round robin.
type tier struct {
	mu      sync.Mutex
	targets []*Target
	members []member // the same targets, packed for the rotation loop
}

// member is one target of a tier as the rotation loop reads it: contiguous,
// so a pick over 50 targets reads a few cache lines, not 50 Target structs.
type member struct {
	st      *targetState
	weight  int32
	index   int32 // Target.Index
	current int   // nginx's current_weight
}

// group returns the interned group for set (nil for an empty set).
func (r *Routing) group(fam Family, set bitset) *group {
	if set.empty() {
		return nil
	}
	key := groupKey{fam, set}
	r.mu.Lock()
	defer r.mu.Unlock()
	if g := r.groups[key]; g != nil {
		return g
	}
	byPrio := map[int]*tier{}
	var prios []int
	for _, t := range r.targets {
		if !set.has(t.Index) {
			continue
		}
		tr := byPrio[t.Priority]
		if tr == nil {
			tr = &tier{}
			byPrio[t.Priority] = tr
			prios = append(prios, t.Priority)
		}
		tr.targets = append(tr.targets, t)
		tr.members = append(tr.members, member{st: t.st, weight: int32(t.Weight), index: int32(t.Index)})
	}
	sort.Ints(prios)
	g := &group{}
	for _, p := range prios {
		g.tiers = append(g.tiers, byPrio[p])
	}
	r.groups[key] = g
	return g
}
