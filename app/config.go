// Package app wires llm-proxy together: configuration, upstream targets, the
// Fiber app and its route table, demo mode and the ordered shutdown.
package app

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/llm-proxy/llm-proxy/handlers"
)

// Config is every setting of llm-proxy. Each field is read from the
// environment variable in its env tag; envDefault is the default and help is
// the line `llm-proxy -h` prints for it.
type Config struct {
	ConfigFile  string   `env:"CONFIG_FILE" help:"routing file (YAML): targets with their API, models, weights and priorities, model aliases and fallbacks; or the flag -config (see README, Routing file)"`
	ProxyURLs   []string `env:"PROXY_URL" envSeparator:"," help:"upstream base URL including /v1; comma-separated for several targets (required unless -demo or a routing file gives targets)"`
	APIKeys     []string `env:"API_KEY" envSeparator:"," help:"upstream API key; comma-separated for several keys (required unless -demo)"`
	AccessKeys  []string `env:"MY_ACCESS_KEY" envSeparator:"," help:"key(s) clients must present, comma-separated (required)"`
	MaxRetries  int      `env:"MAX_RETRIES" envDefault:"3" help:"retries after the first attempt (at most MAX_RETRIES+1 attempts)"`
	Port        int      `env:"PORT" envDefault:"8000" help:"listen port"`
	ListenHost  string   `env:"LISTEN_HOST" help:"listen address (empty: all interfaces; -demo: 127.0.0.1)"`
	TargetNames []string `env:"TARGET_NAMES" envSeparator:"," help:"display names of the targets, in order (default: the URL's host, #n when repeated)"`

	ConnectTimeout         time.Duration `env:"CONNECT_TIMEOUT" envDefault:"10s" help:"TCP+TLS connect timeout per attempt"`
	ResponseTimeout        time.Duration `env:"RESPONSE_TIMEOUT" envDefault:"10m" help:"non-streaming: wait for the whole upstream answer (not retried on expiry: 504)"`
	StreamFirstByteTimeout time.Duration `env:"STREAM_FIRST_BYTE_TIMEOUT" envDefault:"60s" help:"streaming: wait for the upstream's headers and first event (not retried on expiry: 504)"`
	StreamIdleTimeout      time.Duration `env:"STREAM_IDLE_TIMEOUT" envDefault:"60s" help:"streaming: longest upstream silence after the first event before the stream is cut with an error event"`
	KeepAliveInterval      time.Duration `env:"KEEPALIVE_INTERVAL" envDefault:"15s" help:"streaming: send an SSE keep-alive after this much upstream silence (event: ping on /v1/messages)"`
	ClientWriteTimeout     time.Duration `env:"CLIENT_WRITE_TIMEOUT" envDefault:"60s" help:"longest wait for a client to take a write (streams and complete answers); a client that stops reading is dropped and its upstream connection closed"`
	MaxCooldownWait        time.Duration `env:"MAX_COOLDOWN_WAIT" envDefault:"3s" help:"when every target is cooling down after Retry-After, wait for the soonest only if within this bound"`
	MaxCooldown            time.Duration `env:"MAX_COOLDOWN" envDefault:"5m" help:"longest cooldown an upstream's Retry-After can impose on a target (a longer one is cut to it, and the dashboard says so); 0: no cap"`
	RetryStatuses          StatusList    `env:"RETRY_STATUSES" envDefault:"429,500,502,503,504,529" help:"upstream statuses retried on the next target"`
	TranslateMaxTokens     int           `env:"TRANSLATE_MAX_TOKENS" envDefault:"8192" help:"translation: max_tokens sent to an Anthropic target when the OpenAI client gave no limit"`
	BodyLimit              ByteSize      `env:"BODY_LIMIT" envDefault:"32MiB" help:"largest request body accepted (413 above it); units B, KiB, MiB, GiB, KB, MB, GB"`
	HealthCheckInterval    time.Duration `env:"HEALTH_CHECK_INTERVAL" envDefault:"5m" help:"routing file: how often a disabled upstream key (401, 403) is re-checked with GET /models"`
	QuotaRetryInterval     time.Duration `env:"QUOTA_RETRY_INTERVAL" envDefault:"1h" help:"routing file: a key out of quota or credit is tried again by a real request after this long"`
	MaxConnsPerTarget      int           `env:"MAX_CONNS_PER_TARGET" envDefault:"16384" help:"upstream connection pool size per target (requests wait for a free connection up to CONNECT_TIMEOUT)"`
	UpstreamProxy          string        `env:"UPSTREAM_PROXY" help:"outbound proxy for upstream connections (http://[user:pass@]host:port or socks5://…); overrides HTTPS_PROXY/HTTP_PROXY, NO_PROXY still applies (empty: those variables)"`

	DBPath        string        `env:"DB_PATH" envDefault:"./data/llm-proxy.db" help:"SQLite file for counters and the request log; 'memory' keeps everything in memory only"`
	RetentionRows int           `env:"RETENTION_ROWS" envDefault:"100000" help:"request-log rows kept in the database (0: no row limit)"`
	RetentionDays int           `env:"RETENTION_DAYS" envDefault:"30" help:"days of request log kept in the database (0: no age limit)"`
	FlushInterval time.Duration `env:"FLUSH_INTERVAL" envDefault:"500ms" help:"how often request records are written to the database (a crash loses at most this much, plus a write still in progress)"`
	RecentSize    int           `env:"RECENT_SIZE" envDefault:"50" help:"latest requests shown on the dashboard"`
	DatabaseURL   string        `env:"DATABASE_URL" help:"PostgreSQL URL (postgres://user:pass@host:5432/db?sslmode=require) shared by several replicas: totals, request log, chart, live feed, sessions, cooldowns; DB_PATH is then ignored"`
	ReplicaName   string        `env:"REPLICA_NAME" help:"this replica's name in each record and the replicas list (default: <hostname>:<PORT>)"`

	DashboardKeys    []string      `env:"DASHBOARD_KEY" envSeparator:"," help:"key(s) for the dashboard login and /api/stats (default: MY_ACCESS_KEY)"`
	SessionTTL       time.Duration `env:"SESSION_TTL" envDefault:"24h" help:"dashboard session lifetime"`
	LoginRate        int           `env:"LOGIN_RATE" envDefault:"10" help:"dashboard login attempts per minute per client address"`
	MetricsKey       string        `env:"METRICS_KEY" help:"if set, GET /metrics requires 'Authorization: Bearer <METRICS_KEY>'"`
	ProxyHeader      string        `env:"TRUSTED_PROXY_HEADER" help:"header carrying the client address behind a PaaS load balancer (e.g. X-Forwarded-For); empty: the TCP peer"`
	TrustedProxies   []string      `env:"TRUSTED_PROXIES" envSeparator:"," envDefault:"10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,127.0.0.0/8,169.254.0.0/16,::1/128,fc00::/7,fe80::/10" help:"CIDRs of the load balancers allowed to set TRUSTED_PROXY_HEADER (the client is the right-most address not added by one of them; default: the private ranges PaaS load balancers use)"`
	AuthFailBurst    int           `env:"AUTH_FAIL_BURST" envDefault:"20" help:"failed authentications (wrong or missing key, on /v1, /api/stats, /metrics, the login form) a client address may make before it gets 429 (a client with a stale key retries a few times; a guesser is stopped)"`
	AuthFailRate     int           `env:"AUTH_FAIL_RATE" envDefault:"10" help:"failed authentications per minute a throttled client address earns back"`
	HeaderTimeout    time.Duration `env:"HEADER_TIMEOUT" envDefault:"10s" help:"a request's line and headers must arrive within this (cuts slow-header floods that hold connections and buffers)"`
	BodyTimeout      time.Duration `env:"BODY_TIMEOUT" envDefault:"5m" help:"a request with a valid key must send its body within this after its headers (32 MiB at about 110 KB/s)"`
	PreAuthBodyLimit ByteSize      `env:"PREAUTH_BODY_LIMIT" envDefault:"64KiB" help:"largest body read from a request without a valid key (keyless requests cannot make the proxy hold BODY_LIMIT per connection)"`
	MaxConns         int           `env:"MAX_CONNS" envDefault:"8192" help:"most client connections served at once; more are refused (bounds memory under a connection flood)"`
	MaxConnsPerIP    int           `env:"MAX_CONNS_PER_IP" envDefault:"1024" help:"most client connections from one TCP peer address; 0: no limit (behind a load balancer every client shares its few addresses: raise it or set 0)"`
	ShutdownTimeout  time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"25s" help:"on SIGTERM, how long in-flight requests and streams may take to finish"`

	LogFormat string `env:"LOG_FORMAT" envDefault:"text" help:"log format: text or json"`
	LogLevel  string `env:"LOG_LEVEL" envDefault:"info" help:"log level: debug, info, warn, error"`
	Pprof     bool   `env:"PPROF" envDefault:"false" help:"serve /debug/pprof/ (behind the dashboard key) for profiling"`

	DemoRateLimitShare float64 `env:"DEMO_RATE_LIMIT_SHARE" envDefault:"0.25" help:"-demo only: share of simulated upstream answers that are rate limits"`

	// Demo is set by the -demo flag, not by the environment.
	Demo bool `env:"-"`

	// lookup reads environment variables for ${NAME} in the routing file
	// (the lookup given to Load; os.LookupEnv in main).
	lookup func(string) (string, bool)
}

// ConfigError is a configuration problem, named by its environment variable.
type ConfigError struct {
	Var string
	Msg string
}

func (e *ConfigError) Error() string { return e.Var + ": " + e.Msg }

// DefaultConfig returns the configuration with every default applied and no
// keys or targets.
func DefaultConfig() Config {
	cfg, err := Load(func(string) (string, bool) { return "", false })
	if err != nil {
		panic("llm-proxy: defaults do not parse: " + err.Error()) // a bug in the tags, caught by tests
	}
	return cfg
}

// Load reads the configuration through lookup (os.LookupEnv in main) and
// applies defaults. It does not validate; call Validate. A value that does not
// parse gives a *ConfigError naming its variable.
func Load(lookup func(string) (string, bool)) (Config, error) {
	environ := map[string]string{}
	for _, name := range envNames() {
		if v, ok := lookup(name); ok {
			environ[name] = v
		}
	}
	var cfg Config
	err := env.ParseWithOptions(&cfg, env.Options{Environment: environ})
	cfg.lookup = lookup
	if err == nil {
		cfg.trimLists()
		return cfg, nil
	}
	return cfg, configErrorFrom(err, environ)
}

// trimLists drops the spaces around each entry of the comma-separated
// lists, so that "k1, k2" means the keys "k1" and "k2", as people write lists.
func (c *Config) trimLists() {
	for _, list := range [][]string{c.ProxyURLs, c.APIKeys, c.AccessKeys, c.DashboardKeys, c.TargetNames, c.TrustedProxies} {
		for i := range list {
			list[i] = strings.TrimSpace(list[i])
		}
	}
}

// configErrorFrom turns the parsing library's error, which names Go fields,
// into one that names the variable and the offending value.
func configErrorFrom(err error, environ map[string]string) error {
	var agg env.AggregateError
	errs := []error{err}
	if errors.As(err, &agg) && len(agg.Errors) > 0 {
		errs = agg.Errors
	}
	first := errs[0]
	var pe env.ParseError
	if errors.As(first, &pe) {
		name := envNameOfField(pe.Name)
		raw := environ[name]
		var msg string
		var ce *ConfigError
		switch {
		case errors.As(pe.Err, &ce):
			msg = ce.Msg
		case pe.Type == reflect.TypeFor[time.Duration]():
			msg = fmt.Sprintf("not a duration (use e.g. 30s, 2m, 1h): %q", raw)
		case pe.Type == reflect.TypeFor[bool]():
			msg = fmt.Sprintf("not true or false: %q", raw)
		default:
			msg = fmt.Sprintf("not a number: %q", raw)
		}
		return &ConfigError{Var: name, Msg: msg}
	}
	return &ConfigError{Var: "environment", Msg: first.Error()}
}

// Validate checks the values and their combinations. The error names the
// variable at fault.
func (c *Config) Validate() error {
	if len(c.AccessKeys) == 0 {
		return &ConfigError{"MY_ACCESS_KEY", "not set: clients need a key to use the proxy"}
	}
	for _, k := range c.AccessKeys {
		if strings.TrimSpace(k) == "" {
			return &ConfigError{"MY_ACCESS_KEY", "contains an empty key"}
		}
	}
	if err := c.CheckRoutingExclusion(); err != nil {
		return err
	}
	fileTargets, _ := c.routingFileTargets()
	if !c.Demo && !fileTargets {
		if len(c.ProxyURLs) == 0 {
			return &ConfigError{"PROXY_URL", "not set: give the upstream base URL including /v1 (or run with -demo)"}
		}
		if len(c.APIKeys) == 0 {
			return &ConfigError{"API_KEY", "not set: give the upstream API key (or run with -demo)"}
		}
		if _, err := c.TargetSpecs(); err != nil {
			return err
		}
	}
	checks := []struct {
		ok       bool
		variable string
		msg      string
	}{
		{c.MaxRetries >= 0 && c.MaxRetries <= 100, "MAX_RETRIES", fmt.Sprintf("must be between 0 and 100, got %d", c.MaxRetries)},
		{c.Port > 0 && c.Port < 65536, "PORT", fmt.Sprintf("must be between 1 and 65535, got %d", c.Port)},
		{c.ConnectTimeout > 0, "CONNECT_TIMEOUT", "must be positive"},
		{c.ResponseTimeout > 0, "RESPONSE_TIMEOUT", "must be positive"},
		{c.StreamFirstByteTimeout > 0, "STREAM_FIRST_BYTE_TIMEOUT", "must be positive"},
		{c.StreamIdleTimeout > 0, "STREAM_IDLE_TIMEOUT", "must be positive"},
		{c.KeepAliveInterval > 0, "KEEPALIVE_INTERVAL", "must be positive"},
		{c.ClientWriteTimeout > 0, "CLIENT_WRITE_TIMEOUT", "must be positive"},
		{c.MaxCooldownWait >= 0, "MAX_COOLDOWN_WAIT", "must not be negative"},
		{c.MaxCooldown >= 0, "MAX_COOLDOWN", "must not be negative"},
		{c.TranslateMaxTokens > 0, "TRANSLATE_MAX_TOKENS", "must be positive"},
		{c.BodyLimit >= 1024, "BODY_LIMIT", "must be at least 1KiB"},
		{c.MaxConnsPerTarget > 0, "MAX_CONNS_PER_TARGET", "must be positive"},
		{c.HealthCheckInterval > 0, "HEALTH_CHECK_INTERVAL", "must be positive"},
		{c.QuotaRetryInterval > 0, "QUOTA_RETRY_INTERVAL", "must be positive"},
		{c.RetentionRows >= 0, "RETENTION_ROWS", "must not be negative"},
		{c.RetentionDays >= 0, "RETENTION_DAYS", "must not be negative"},
		{c.FlushInterval > 0, "FLUSH_INTERVAL", "must be positive"},
		{c.RecentSize > 0 && c.RecentSize <= 10000, "RECENT_SIZE", "must be between 1 and 10000"},
		{c.SessionTTL > 0, "SESSION_TTL", "must be positive"},
		{c.LoginRate > 0, "LOGIN_RATE", "must be positive"},
		{c.AuthFailBurst > 0, "AUTH_FAIL_BURST", "must be positive"},
		{c.AuthFailRate > 0, "AUTH_FAIL_RATE", "must be positive"},
		{c.HeaderTimeout > 0, "HEADER_TIMEOUT", "must be positive"},
		{c.BodyTimeout > 0, "BODY_TIMEOUT", "must be positive"},
		{c.PreAuthBodyLimit >= 1024 && c.PreAuthBodyLimit <= c.BodyLimit, "PREAUTH_BODY_LIMIT", "must be at least 1KiB and at most BODY_LIMIT"},
		{c.MaxConns > 0, "MAX_CONNS", "must be positive"},
		{c.MaxConnsPerIP >= 0, "MAX_CONNS_PER_IP", "must not be negative"},
		{c.ShutdownTimeout >= 0, "SHUTDOWN_TIMEOUT", "must not be negative"},
		{c.LogFormat == "text" || c.LogFormat == "json", "LOG_FORMAT", fmt.Sprintf("must be text or json, got %q", c.LogFormat)},
		{validLevel(c.LogLevel), "LOG_LEVEL", fmt.Sprintf("must be debug, info, warn or error, got %q", c.LogLevel)},
		{c.DemoRateLimitShare >= 0 && c.DemoRateLimitShare <= 1, "DEMO_RATE_LIMIT_SHARE", "must be between 0 and 1"},
		{strings.TrimSpace(c.DBPath) != "", "DB_PATH", "must not be empty (use 'memory' to keep no database)"},
	}
	for _, ch := range checks {
		if !ch.ok {
			return &ConfigError{ch.variable, ch.msg}
		}
	}
	for _, k := range c.DashboardKeys {
		if strings.TrimSpace(k) == "" {
			return &ConfigError{"DASHBOARD_KEY", "contains an empty key"}
		}
	}
	if _, err := handlers.ParsePrefixes(c.TrustedProxies); err != nil {
		return &ConfigError{"TRUSTED_PROXIES", "not a list of CIDRs or addresses: " + err.Error()}
	}
	if c.UpstreamProxy != "" {
		u, err := url.Parse(c.UpstreamProxy)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "socks5" && u.Scheme != "socks5h") {
			return &ConfigError{"UPSTREAM_PROXY", "must be http://host:port or socks5://host:port (credentials as user:pass@)"}
		}
	}
	return nil
}

func validLevel(s string) bool {
	switch strings.ToLower(s) {
	case "debug", "info", "warn", "error":
		return true
	}
	return false
}

// TargetSpec is one upstream target before it is built: where and with which key.
type TargetSpec struct {
	Name string
	URL  *url.URL
	Key  string
}

// TargetSpecs pairs PROXY_URL with API_KEY: equal-length lists pair up; one
// URL with several keys, or several URLs with one key, expand to one target each.
func (c *Config) TargetSpecs() ([]TargetSpec, error) {
	urls, keys := c.ProxyURLs, c.APIKeys
	parsed := make([]*url.URL, len(urls))
	for i, raw := range urls {
		u, err := parseUpstreamURL(raw)
		if err != nil {
			return nil, &ConfigError{"PROXY_URL", err.Error()}
		}
		parsed[i] = u
	}
	for _, k := range keys {
		if strings.TrimSpace(k) == "" {
			return nil, &ConfigError{"API_KEY", "contains an empty key"}
		}
	}
	n := len(urls)
	switch {
	case len(urls) == len(keys):
	case len(urls) == 1:
		n = len(keys)
	case len(keys) == 1:
	default:
		return nil, &ConfigError{"API_KEY", fmt.Sprintf("%d keys for %d URLs in PROXY_URL: give one key, one URL, or as many keys as URLs", len(keys), len(urls))}
	}
	if len(c.TargetNames) > 0 && len(c.TargetNames) != n {
		return nil, &ConfigError{"TARGET_NAMES", fmt.Sprintf("%d names for %d targets", len(c.TargetNames), n)}
	}
	specs := make([]TargetSpec, n)
	hostCount := map[string]int{}
	for i := range specs {
		u := parsed[min(i, len(parsed)-1)]
		specs[i] = TargetSpec{URL: u, Key: strings.TrimSpace(keys[min(i, len(keys)-1)])}
		hostCount[u.Host]++
	}
	seen := map[string]int{}
	for i := range specs {
		host := specs[i].URL.Host
		name := host
		if hostCount[host] > 1 {
			seen[host]++
			name = fmt.Sprintf("%s#%d", host, seen[host])
		}
		if len(c.TargetNames) > 0 {
			name = strings.TrimSpace(c.TargetNames[i])
		}
		specs[i].Name = name
	}
	return specs, nil
}

func parseUpstreamURL(raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("not an http(s) URL: %q", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("must be a base URL without credentials, query or fragment: %q", u.Redacted())
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

// EffectiveDashboardKeys is DASHBOARD_KEY, or MY_ACCESS_KEY when that is unset.
func (c *Config) EffectiveDashboardKeys() []string {
	if len(c.DashboardKeys) > 0 {
		return c.DashboardKeys
	}
	return c.AccessKeys
}

// Setting describes one environment variable for `-h` and the README.
type Setting struct {
	Name, Default, Help string
}

// Settings lists every environment variable with its default and help, in
// declaration order.
func Settings() []Setting {
	t := reflect.TypeFor[Config]()
	var out []Setting
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("env")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, Setting{Name: name, Default: f.Tag.Get("envDefault"), Help: f.Tag.Get("help")})
	}
	return out
}

func envNames() []string {
	var names []string
	for _, s := range Settings() {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	return names
}

func envNameOfField(field string) string {
	if f, ok := reflect.TypeFor[Config]().FieldByName(field); ok {
		return f.Tag.Get("env")
	}
	return field
}

// ByteSize is a size in bytes that parses "32MiB", "512KB", "1048576".
type ByteSize int64

// UnmarshalText parses a size with an optional unit (B, KiB, MiB, GiB, KB, MB, GB).
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(strings.ToUpper(s), strings.ToUpper(u.suffix)) {
			s, mult = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return &ConfigError{Msg: fmt.Sprintf("not a size (use e.g. 32MiB, 500KB, 1048576): %q", string(text))}
	}
	*b = ByteSize(n * mult)
	return nil
}

// StatusList is a comma-separated list of HTTP status codes.
type StatusList []int

// UnmarshalText parses "429,500,502".
func (s *StatusList) UnmarshalText(text []byte) error {
	var out StatusList
	for _, part := range strings.Split(string(text), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 100 || n > 599 {
			return &ConfigError{Msg: fmt.Sprintf("not a list of HTTP statuses (e.g. 429,500,503): %q", string(text))}
		}
		out = append(out, n)
	}
	*s = out
	return nil
}
