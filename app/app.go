package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/pprof"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/llm-proxy/llm-proxy/handlers"
	"github.com/llm-proxy/llm-proxy/handlers/dashboard"
	"github.com/llm-proxy/llm-proxy/logging"
	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/stats/postgres"
	"github.com/llm-proxy/llm-proxy/upstream"
	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// App is one running llm-proxy: its Fiber app and everything behind it.
type App struct {
	cfg      Config
	log      *slog.Logger
	fiber    *fiber.App
	targets  *upstream.Targets
	relay    *upstream.Relay
	rstatus  routingStatus
	store    stats.Store
	pg       *postgres.Store // the store when it is PostgreSQL (shared by replicas); nil otherwise
	replica  string          // REPLICA_NAME or its default
	recorder *stats.Recorder
	metrics  *stats.Metrics
	dash     *dashboard.Dashboard
	demo     *sim.Server
	// demoAnthropic and demoTimers: demo mode's second provider and its key story.
	demoAnthropic *sim.Server
	demoTimers    []*time.Timer
	version       string
	// metricsKeys holds METRICS_KEY (empty set when unset).
	metricsKeys *handlers.Keys
	// dashKeys holds the dashboard keys (for /debug/pprof).
	dashKeys *handlers.Keys
	// accessKeys holds MY_ACCESS_KEY.
	accessKeys *handlers.Keys
	// clientAddr finds a request's client address (TRUSTED_PROXY_HEADER).
	clientAddr *handlers.ClientAddr
	// throttle answers 429 to an address after too many failed authentications.
	throttle *handlers.AuthThrottle
}

// New builds the app from a validated configuration. In demo mode it also
// starts the simulated upstream and points the targets at it.
func New(cfg Config, log *slog.Logger, version string) (*App, error) {
	a := &App{cfg: cfg, log: log, version: version, metricsKeys: handlers.NewKeys(nil)}
	a.dashKeys = handlers.NewKeys(cfg.EffectiveDashboardKeys())
	if cfg.MetricsKey != "" {
		a.metricsKeys = handlers.NewKeys([]string{cfg.MetricsKey})
	}
	if cfg.Demo {
		if err := a.startDemoUpstream(); err != nil {
			return nil, err
		}
	}
	specs, err := a.cfg.TargetSpecs()
	if err != nil {
		a.closeDemo()
		return nil, err
	}
	if len(specs) > upstream.MaxTargets {
		a.closeDemo()
		return nil, &ConfigError{"PROXY_URL", fmt.Sprintf("at most %d targets, got %d", upstream.MaxTargets, len(specs))}
	}
	uspecs := make([]upstream.Spec, len(specs))
	for i, s := range specs {
		uspecs[i] = upstream.Spec{Name: s.Name, URL: s.URL, Key: s.Key}
	}
	a.targets = upstream.NewTargets(uspecs, a.clientOptions())
	relay := upstream.NewRelay(a.targets, upstream.Options{
		MaxRetries:             cfg.MaxRetries,
		MaxCooldownWait:        cfg.MaxCooldownWait,
		ResponseTimeout:        cfg.ResponseTimeout,
		StreamFirstByteTimeout: cfg.StreamFirstByteTimeout,
		TranslateMaxTokens:     cfg.TranslateMaxTokens,
		Classifier:             upstream.NewClassifier(cfg.RetryStatuses),
	})
	a.relay = relay
	if cfg.ConfigFile != "" {
		r, err := cfg.BuildRouting(nil)
		if err != nil {
			a.targets.Close()
			a.closeDemo()
			return nil, err
		}
		relay.SetRouting(r, a.clientOptions(), reloadGrace)
		a.rstatus.file, a.rstatus.loadedAt = cfg.ConfigFile, r.LoadedAt()
	} else if cfg.Demo {
		r, err := a.demoRouting()
		if err != nil {
			a.targets.Close()
			a.closeDemo()
			return nil, err
		}
		relay.SetRouting(r, a.clientOptions(), reloadGrace)
		a.rstatus.file, a.rstatus.loadedAt = demoRoutingName, r.LoadedAt()
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.metrics = stats.NewMetrics(reg, version)
	a.accessKeys = handlers.NewKeys(cfg.AccessKeys)
	trusted, err := handlers.ParsePrefixes(cfg.TrustedProxies)
	if err != nil {
		a.closeStore()
		a.closeDemo()
		return nil, &ConfigError{"TRUSTED_PROXIES", err.Error()}
	}
	a.clientAddr = handlers.NewClientAddr(cfg.ProxyHeader, trusted)
	authFailures := prometheus.NewCounter(prometheus.CounterOpts{Name: "llmproxy_auth_failures_total", Help: "Requests that failed authentication (wrong or missing key, failed login)."})
	authThrottled := prometheus.NewCounter(prometheus.CounterOpts{Name: "llmproxy_auth_throttled_total", Help: "Requests answered 429 because their client address failed authentication too often."})
	reg.MustRegister(authFailures, authThrottled)
	a.throttle = handlers.NewAuthThrottle(handlers.AuthThrottleConfig{
		Burst:      cfg.AuthFailBurst,
		PerMinute:  float64(cfg.AuthFailRate),
		MaxClients: 100_000, // ~200 B each: 20 MB at most
		Addr:       a.clientAddr,
		Failures:   authFailures,
		Throttled:  authThrottled,
		Logger:     log,
	})
	a.metrics.SetTargetProvider(a.targetStates)
	a.replica = cfg.replicaName()
	if err := a.openStore(a.metrics.InFlight); err != nil {
		a.closeDemo()
		return nil, err
	}
	a.recorder, err = stats.NewRecorder(stats.Options{
		RecentSize: cfg.RecentSize,
		Store:      a.store,
		Replica:    a.replica,
		Targets:    a.targetStates,
		Routing:    a.RoutingStatus,
		Logger:     log,
		Metrics:    a.metrics,
	})
	if err != nil {
		a.closeStore()
		a.closeDemo()
		return nil, err
	}
	dcfg := dashboard.Config{
		Keys:       cfg.EffectiveDashboardKeys(),
		SessionTTL: cfg.SessionTTL,
		Recorder:   a.recorder,
		LoginRate:  cfg.LoginRate,
		ClientAddr: func(c *fiber.Ctx) string { return a.clientAddr.Of(c.Context()) },
		Logger:     log,
	}
	if a.pg != nil {
		// Replicas share sessions and cooldowns (REPLICAS.md).
		dcfg.Sessions = a.pg.Sessions()
		a.shareRoutingState()
	}
	a.dash = dashboard.New(dcfg)
	proxy := handlers.NewProxy(handlers.ProxyConfig{
		Keys:               a.accessKeys,
		Relay:              relay,
		Record:             a.record,
		KeepAliveInterval:  cfg.KeepAliveInterval,
		StreamIdleTimeout:  cfg.StreamIdleTimeout,
		ClientWriteTimeout: cfg.ClientWriteTimeout,
		InFlight:           a.metrics.InFlight,
		OpenStreams:        a.metrics.OpenStreams,
		Logger:             log,
	})
	a.fiber = a.routes(proxy, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return a, nil
}

// writableHint explains the usual cause when the database's folder cannot be
// written: a volume mounted owned by root while the image runs as a user.
func writableHint(dbPath string) string {
	dir := filepath.Dir(dbPath)
	f, err := os.CreateTemp(dir, ".llm-proxy-write-test-*")
	if err == nil {
		f.Close()
		os.Remove(f.Name())
		return ""
	}
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Sprintf(" (folder %s is not writable by uid %d: give the volume to that user, or see the README's FAQ)", dir, os.Getuid())
	}
	return ""
}

// routes is the route table, all of it.
func (a *App) routes(proxy *handlers.Proxy, metrics http.Handler) *fiber.App {
	pre := &handlers.PreAuth{
		Keys:        []*handlers.Keys{a.accessKeys, a.dashKeys},
		Small:       int(a.cfg.PreAuthBodyLimit),
		BodyTimeout: a.cfg.BodyTimeout,
		Failed:      a.throttle.Fail,
	}
	app := fiber.New(fiber.Config{
		AppName:               "llm-proxy",
		DisableStartupMessage: true,
		BodyLimit:             int(a.cfg.BodyLimit),
		ReadBufferSize:        16 << 10, // the limit on request header size; held by each open stream's connection
		// From a request's first byte: its headers must be in by then.
		// PreAuth.HeaderReceived then gives a request with a valid key
		// BODY_TIMEOUT for its body.
		ReadTimeout:  a.cfg.HeaderTimeout,
		IdleTimeout:  2 * time.Minute,
		WriteTimeout: 0, // a deadline for the whole answer would cut long streams
		ErrorHandler: pre.ErrorHandler,
		ProxyHeader:  a.cfg.ProxyHeader,
		Network:      fiber.NetworkTCP,
		Concurrency:  a.cfg.MaxConns,
	})
	// Fiber copies its Config into the fasthttp server in New and leaves
	// these alone; Listener serves this very server.
	srv := app.Server()
	srv.HeaderReceived = pre.HeaderReceived
	srv.SecureErrorLogMessage = true // fasthttp's error texts never quote the request
	app.Use(recover.New())
	guard := a.throttle.Handler

	app.Get("/healthz", handlers.Health)
	if a.cfg.Pprof {
		// Profiling is opt-in and behind the dashboard key (Bearer).
		app.Use("/debug/pprof", a.bearerDashboardKey, pprof.New())
	}
	app.Get("/metrics", guard, a.metricsAuth, adaptor.HTTPHandler(metrics))

	// Security headers per dashboard route: a Group("") would be app-wide and
	// put a CSP on every /v1 answer too.
	sec := a.dash.SecurityHeaders()
	app.Get("/", sec, a.dash.Page)
	app.Post("/login", sec, guard, a.dash.Login)
	app.Post("/logout", sec, a.dash.Logout)
	app.Get("/assets/*", sec, a.dash.Assets())
	app.Get("/api/stats", sec, guard, a.dash.StatsJSON)
	app.Get("/ws", sec, a.dash.Upgrade, a.dash.Live())

	app.All("/v1/*", guard, proxy.Handle)
	app.All("/v1", guard, proxy.Handle)
	return app
}

// metricsAuth protects /metrics when METRICS_KEY is set.
func (a *App) metricsAuth(c *fiber.Ctx) error {
	if a.cfg.MetricsKey == "" {
		return c.Next()
	}
	key, style := handlers.ClientKey(&c.Request().Header)
	if style == upstream.KeyBearer && a.metricsKeys.Match(key) {
		return c.Next()
	}
	return c.Status(fiber.StatusUnauthorized).SendString("unauthorized\n")
}

// bearerDashboardKey lets a request through only with a dashboard key as Bearer.
func (a *App) bearerDashboardKey(c *fiber.Ctx) error {
	key, style := handlers.ClientKey(&c.Request().Header)
	if style == upstream.KeyBearer && a.dashKeys.Match(key) {
		return c.Next()
	}
	return c.Status(fiber.StatusUnauthorized).SendString("unauthorized\n")
}

// record is the sink for finished requests: one log line, then the recorder.
func (a *App) record(ev *stats.Event) {
	level := slog.LevelInfo
	if !ev.Success() {
		level = slog.LevelWarn
	}
	logging.LogRequest(a.log, level, ev)
	a.recorder.Record(ev)
}

// targetStates adapts the pool's states for the dashboard and metrics.
func (a *App) targetStates() []stats.TargetState {
	now := time.Now()
	if r := a.relay.Routing(); r != nil {
		return routedStates(r, now)
	}
	states := a.targets.States(now)
	out := make([]stats.TargetState, len(states))
	for i, s := range states {
		out[i] = stats.TargetState{Name: s.Name, State: "ok", LastError: s.LastError}
		if !s.CoolingUntil.IsZero() {
			until := s.CoolingUntil
			out[i].State, out[i].CoolingUntil = "cooling", &until
		}
		if !s.LastErrorAt.IsZero() {
			at := s.LastErrorAt
			out[i].LastErrorAt = &at
		}
		if c := s.CooldownCapped; c != nil {
			out[i].CooldownCapped = &stats.CooldownCap{At: c.At, AskedSeconds: c.Asked.Seconds(), CappedSeconds: c.Capped.Seconds()}
		}
	}
	return out
}

// Fiber returns the Fiber app (for tests).
func (a *App) Fiber() *fiber.App { return a.fiber }

// Recorder returns the stats recorder (for tests).
func (a *App) Recorder() *stats.Recorder { return a.recorder }

// Addr is the configured listen address.
func (a *App) Addr() string {
	host := a.cfg.ListenHost
	if host == "" && a.cfg.Demo {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(a.cfg.Port))
}

// Serve serves on ln until ctx is done, then shuts down in order: stop
// accepting and let in-flight requests and streams finish (up to
// SHUTDOWN_TIMEOUT), close the dashboard's websocket clients, stop the
// recorder, flush and close the store.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() {
		errc <- a.fiber.Listener(lingerListener{Listener: ln, perIP: newPerIPLimit(a.cfg.MaxConnsPerIP)})
	}()
	rctx, stopRouting := context.WithCancel(ctx)
	defer stopRouting()
	go a.runRouting(rctx)
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}
	a.log.Info("shutting down", "timeout", a.cfg.ShutdownTimeout.String())
	if err := a.fiber.ShutdownWithTimeout(a.cfg.ShutdownTimeout); err != nil {
		a.log.Warn("in-flight requests did not finish in time", "error", err.Error())
	}
	a.dash.Close()
	a.Close()
	if serveErr != nil && !errors.Is(serveErr, net.ErrClosed) {
		return serveErr
	}
	return nil
}

// Close releases everything behind the Fiber app: recorder, store, upstream
// connections, demo upstream. Serve calls it; tests that never serve call it.
func (a *App) Close() {
	if err := a.recorder.Close(); err != nil {
		a.log.Error("closing recorder", "error", err.Error())
	}
	a.closeStore()
	a.targets.Close()
	a.closeDemo()
}

func (a *App) closeStore() {
	if a.store != nil {
		if err := a.store.Close(); err != nil {
			a.log.Error("closing database", "error", err.Error())
		}
		a.store, a.pg = nil, nil
	}
}

func (a *App) closeDemo() {
	for _, t := range a.demoTimers {
		t.Stop()
	}
	if a.demo != nil {
		a.demo.Close()
		a.demo = nil
	}
	if a.demoAnthropic != nil {
		a.demoAnthropic.Close()
		a.demoAnthropic = nil
	}
}

// LogStartup states where the proxy listens, its targets by name and where
// its data lives.
func (a *App) LogStartup(addr string) {
	names := make([]string, 0, len(a.targets.All()))
	if r := a.Routing(); r != nil && r.FromFile() {
		// With a routing file (demo mode has a built-in one) its targets serve.
		for _, t := range r.Targets() {
			names = append(names, t.Name)
		}
	} else {
		for _, t := range a.targets.All() {
			names = append(names, t.Name())
		}
	}
	a.log.Info("llm-proxy listening", "addr", addr, "version", a.version, "targets", names,
		"max_retries", a.cfg.MaxRetries, "demo", a.cfg.Demo)
	if a.pg != nil {
		a.log.Info("data stored in PostgreSQL (DATABASE_URL; DB_PATH is ignored), shared with other replicas",
			"database", a.pg.Where(), "replica", a.replica)
	} else if a.store != nil {
		a.log.Info("data stored in SQLite", "path", a.cfg.DBPath,
			"note", "on a PaaS, mount a volume at this path's folder or the data is lost on redeploy")
	} else {
		a.log.Info("data kept in memory only (DB_PATH=memory): counters and the request log reset on restart")
	}
}
