package app

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/llm-proxy/llm-proxy/routing"
	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/upstream"
)

// reloadGrace is how long the connection pools of targets dropped by a
// reload keep their idle connections for requests still in flight.
const reloadGrace = time.Minute

// ReadRoutingFile reads and parses the routing file at path, expanding
// ${NAME} through lookup.
func ReadRoutingFile(path string, lookup func(string) (string, bool)) (*routing.File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &routing.Error{File: path, Msg: errors.Unwrap(err).Error()}
	}
	if lookup == nil {
		lookup = os.LookupEnv
	}
	return routing.Parse(path, data, lookup)
}

// routingFileTargets reads CONFIG_FILE, when set, and reports whether it gives targets.
func (c *Config) routingFileTargets() (bool, error) {
	if c.ConfigFile == "" {
		return false, nil
	}
	f, err := ReadRoutingFile(c.ConfigFile, c.lookup)
	if err != nil {
		return false, err
	}
	return len(f.Targets) > 0, nil
}

// CheckRoutingExclusion refuses a routing file with targets when
// PROXY_URL/API_KEY are set too.
func (c *Config) CheckRoutingExclusion() error {
	fileTargets, err := c.routingFileTargets()
	if err == nil && fileTargets && (len(c.ProxyURLs) > 0 || len(c.APIKeys) > 0) {
		err = &ConfigError{"CONFIG_FILE", "the routing file gives targets: and PROXY_URL/API_KEY are set too: pick one (unset PROXY_URL and API_KEY, or drop targets: from the file)"}
	}
	return err
}

// BuildRouting loads CONFIG_FILE into a routing: the file's targets, or the
// PROXY_URL/API_KEY targets with the file's models: section. prev (a
// reload) carries the state of unchanged targets over.
func (c *Config) BuildRouting(prev *routing.Routing) (*routing.Routing, error) {
	f, err := ReadRoutingFile(c.ConfigFile, c.lookup)
	if err != nil {
		return nil, err
	}
	opts := routing.Options{
		MaxCooldown:         c.MaxCooldown,
		QuotaRetryInterval:  c.QuotaRetryInterval,
		HealthCheckInterval: c.HealthCheckInterval,
	}
	if len(f.Targets) > 0 {
		return routing.Build(f, opts, prev)
	}
	specs, err := c.TargetSpecs()
	if err != nil {
		return nil, err
	}
	rs := make([]routing.TargetSpec, len(specs))
	for i, s := range specs {
		rs[i] = routing.TargetSpec{Name: s.Name, URL: s.URL, Key: s.Key}
	}
	return routing.FromEnv(rs, f, opts, prev)
}

// routingStatus is the state of the routing file as /api/stats and the
// dashboard show it.
type routingStatus struct {
	mu       sync.Mutex
	file     string
	loadedAt time.Time
	err      string // the last reload's error; "" when it loaded
}

// RoutingStatus returns the routing file's state for /api/stats and the
// dashboard; nil without a routing file.
func (a *App) RoutingStatus() *stats.RoutingStatus {
	if a.relay.Routing() == nil {
		return nil
	}
	a.rstatus.mu.Lock()
	defer a.rstatus.mu.Unlock()
	st := &stats.RoutingStatus{File: a.rstatus.file, LoadedAt: a.rstatus.loadedAt}
	if a.rstatus.err != "" {
		e := a.rstatus.err
		st.Error = &e
	}
	return st
}

// ReloadRouting reads the routing file again and swaps it in; a bad file
// keeps the running routing and is reported (log and status).
func (a *App) ReloadRouting(why string) error {
	prev := a.relay.Routing()
	if prev == nil || a.cfg.ConfigFile == "" { // no file, or demo mode's built-in routing
		return nil
	}
	r, err := a.cfg.BuildRouting(prev)
	a.rstatus.mu.Lock()
	defer a.rstatus.mu.Unlock()
	if err != nil {
		a.rstatus.err = err.Error()
		a.log.Error("routing file refused; the running routing stays", "why", why, "error", err.Error())
		return err
	}
	a.relay.SetRouting(r, a.clientOptions(), reloadGrace)
	a.rstatus.loadedAt, a.rstatus.err = r.LoadedAt(), ""
	a.log.Info("routing file reloaded", "why", why, "file", a.cfg.ConfigFile, "targets", len(r.Targets()), "models", len(r.Models()))
	return nil
}

// runRouting reloads on SIGHUP and when the file changes, and runs the
// background key checks, until ctx ends.
func (a *App) runRouting(ctx context.Context) {
	if a.relay.Routing() == nil {
		return
	}
	go a.relay.RunKeyChecks(ctx, time.Second)
	if a.cfg.ConfigFile == "" {
		return // demo mode's built-in routing: nothing to reload
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var events <-chan fsnotify.Event
	w, err := fsnotify.NewWatcher()
	if err == nil {
		defer w.Close()
		// Watch the folder, not the file: editors and Kubernetes replace
		// files by rename, which ends a watch on the file itself.
		if err = w.Add(filepath.Dir(a.cfg.ConfigFile)); err == nil {
			events = w.Events
			a.log.Info("watching the routing file (reload on change or SIGHUP)", "file", a.cfg.ConfigFile)
		}
	}
	if err != nil {
		a.log.Warn("routing file not watched (reload with SIGHUP)", "error", err.Error())
	}
	name := filepath.Clean(a.cfg.ConfigFile)
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			_ = a.ReloadRouting("SIGHUP")
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if filepath.Clean(ev.Name) == name || filepath.Base(ev.Name) == "..data" {
				// An editor's save is several events: reload once they settle.
				debounce = time.After(200 * time.Millisecond)
			}
		case <-debounce:
			debounce = nil
			_ = a.ReloadRouting("file changed")
		}
	}
}

// clientOptions are the connection settings of every upstream target.
func (a *App) clientOptions() upstream.ClientOptions {
	return upstream.ClientOptions{
		ConnectTimeout: a.cfg.ConnectTimeout,
		MaxConns:       a.cfg.MaxConnsPerTarget,
		Proxy:          upstream.ProxyFromEnvironment(os.Getenv, a.cfg.UpstreamProxy),
		MaxCooldown:    a.cfg.MaxCooldown,
	}
}

// routedStates adapts the routing's target states for the dashboard and metrics.
func routedStates(r *routing.Routing, now time.Time) []stats.TargetState {
	states := r.States(now)
	out := make([]stats.TargetState, len(states))
	for i, s := range states {
		ts := stats.TargetState{Name: s.Name, Group: s.Group, State: s.State}
		for _, c := range s.Cooling {
			ts.Cooling = append(ts.Cooling, stats.ModelCooldown{Model: c.Model, Until: c.Until, Capped: c.Capped})
		}
		if len(s.Cooling) > 0 {
			until := s.Cooling[0].Until
			ts.CoolingUntil = &until
		}
		if s.Reason != "" {
			ts.Disabled = &stats.DisabledKey{Reason: s.Reason, Since: s.Since, NextCheck: s.NextCheck}
		}
		out[i] = ts
	}
	return out
}

// Routing returns the running routing (nil without a routing file). A
// store shared by replicas registers Routing().OnChange once (it stays
// registered across reloads) and passes other replicas' changes to
// Routing().Apply — always on the current routing, as a reload swaps it.
func (a *App) Routing() *routing.Routing { return a.relay.Routing() }
