package stats

import (
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// latencyBuckets (seconds) span a cached answer to a long reasoning stream: 5ms … 300s.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300}

// Metrics are the proxy's Prometheus metrics. Every label value comes from a
// bounded set: family and reason from fixed lists (anything else is "other"),
// status as a class, target as a configured target name ("none" when no
// target served the answer). The model is deliberately not a label.
type Metrics struct {
	// InFlight is llmproxy_in_flight_requests: proxied requests in progress.
	// The proxy increments and decrements it.
	InFlight prometheus.Gauge
	// OpenStreams is llmproxy_open_streams: streamed answers being relayed.
	// The proxy increments and decrements it.
	OpenStreams prometheus.Gauge

	requests   *prometheus.CounterVec
	attempts   *prometheus.CounterVec
	rateLimits *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	ttfb       *prometheus.HistogramVec
	tokens     *prometheus.CounterVec

	targets  atomic.Pointer[func() []TargetState]
	recorder atomic.Pointer[Recorder]

	// Children looked up once per label set: label values are bounded
	// (configured targets × fixed families, classes and reasons), and a
	// WithLabelValues per event costs a hash and a locked map lookup each.
	mu     sync.Mutex
	perReq map[reqKey]*reqMetrics
	perTry map[tryKey]*tryMetrics
}

type reqKey struct {
	family, class, target string
	stream                bool
}

type reqMetrics struct {
	family         string
	requests       prometheus.Counter
	duration, ttfb prometheus.Observer // ttfb and the token counters: nil until first used
	tokensIn       prometheus.Counter
	tokensOut      prometheus.Counter
}

type tryKey struct{ target, reason string }

type tryMetrics struct {
	attempts, rateLimits prometheus.Counter // rateLimits nil unless reason is rate_limit
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered, e.g. in tests). Registering twice with one registry panics, as
// with any Prometheus collector. buildVersion is the llmproxy_build_info
// version label.
func NewMetrics(reg prometheus.Registerer, buildVersion string) *Metrics {
	m := &Metrics{
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "llmproxy_in_flight_requests",
			Help: "Proxied requests in progress.",
		}),
		OpenStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "llmproxy_open_streams",
			Help: "Streamed answers being relayed.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llmproxy_requests_total",
			Help: "Finished requests by route family, status class of the answer to the client, and serving target.",
		}, []string{"family", "status_class", "target"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llmproxy_attempts_total",
			Help: "Upstream attempts by target and outcome reason; attempts beyond one per request are retries.",
		}, []string{"target", "reason"}),
		rateLimits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llmproxy_rate_limits_total",
			Help: "Upstream attempts classified as rate limited, recovered ones included.",
		}, []string{"target"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "llmproxy_request_duration_seconds",
			Help:    "Time from a request's arrival until its last byte was sent.",
			Buckets: latencyBuckets,
		}, []string{"family", "stream"}),
		ttfb: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "llmproxy_ttfb_seconds",
			Help:    "Time from a request's arrival until the first answer byte was sent to the client.",
			Buckets: latencyBuckets,
		}, []string{"family", "stream"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llmproxy_tokens_total",
			Help: "Tokens reported by the upstreams' usage, by direction (input, output).",
		}, []string{"family", "direction"}),
	}
	if reg == nil {
		return m
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "llmproxy_build_info",
		Help:        "Always 1; the labels say which build is running.",
		ConstLabels: prometheus.Labels{"version": buildVersion, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)
	reg.MustRegister(
		m.InFlight, m.OpenStreams,
		m.requests, m.attempts, m.rateLimits, m.duration, m.ttfb, m.tokens,
		buildInfo,
		coolingCollector{m},
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "llmproxy_dashboard_subscribers_dropped_total",
			Help: "Live-feed subscribers dropped because they fell behind.",
		}, func() float64 { return m.fromRecorder((*Recorder).DroppedSubscribers) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "llmproxy_events_dropped_total",
			Help: "Finished requests counted but not stored or shown because the recorder queue was full.",
		}, func() float64 { return m.fromRecorder((*Recorder).DroppedEvents) }),
	)
	return m
}

// SetTargetProvider sets the function llmproxy_target_cooling{target} is
// read from at scrape time (1 while a target is cooling down, else 0). It
// must be safe for concurrent use; nil removes it.
func (m *Metrics) SetTargetProvider(f func() []TargetState) {
	if f == nil {
		m.targets.Store(nil)
		return
	}
	m.targets.Store(&f)
}

// attach makes r the source of the dropped-event and dropped-subscriber counts.
func (m *Metrics) attach(r *Recorder) { m.recorder.Store(r) }

func (m *Metrics) fromRecorder(get func(*Recorder) uint64) float64 {
	if r := m.recorder.Load(); r != nil {
		return float64(get(r))
	}
	return 0
}

// Observe counts one finished request. The Recorder calls it when
// Options.Metrics is set; call it yourself only for events not recorded.
func (m *Metrics) Observe(e *Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.reqMetrics(reqKey{familyLabel(e.Family), statusClass(e.Status), targetLabel(e.Target), e.Stream})
	r.requests.Inc()
	for _, a := range e.Attempts {
		t := m.tryMetrics(tryKey{targetLabel(a.Target), reasonLabel(a.Reason)})
		t.attempts.Inc()
		if t.rateLimits != nil {
			t.rateLimits.Inc()
		}
	}
	r.duration.Observe(e.LatencyMs / 1000)
	// The series below are created on first use: a request with no answer
	// byte or no tokens must not make an empty series appear.
	if e.TTFBMs > 0 { // 0: no byte of an answer was sent
		if r.ttfb == nil {
			r.ttfb = m.ttfb.WithLabelValues(r.family, strconv.FormatBool(e.Stream))
		}
		r.ttfb.Observe(e.TTFBMs / 1000)
	}
	if e.InputTokens > 0 {
		if r.tokensIn == nil {
			r.tokensIn = m.tokens.WithLabelValues(r.family, "input")
		}
		r.tokensIn.Add(float64(e.InputTokens))
	}
	if e.OutputTokens > 0 {
		if r.tokensOut == nil {
			r.tokensOut = m.tokens.WithLabelValues(r.family, "output")
		}
		r.tokensOut.Add(float64(e.OutputTokens))
	}
}

// reqMetrics returns the cached children for k; m.mu is held.
func (m *Metrics) reqMetrics(k reqKey) *reqMetrics {
	if r, ok := m.perReq[k]; ok {
		return r
	}
	stream := strconv.FormatBool(k.stream)
	r := &reqMetrics{
		family:   k.family,
		requests: m.requests.WithLabelValues(k.family, k.class, k.target),
		duration: m.duration.WithLabelValues(k.family, stream),
	}
	if m.perReq == nil {
		m.perReq = map[reqKey]*reqMetrics{}
	}
	m.perReq[k] = r
	return r
}

// tryMetrics returns the cached children for k; m.mu is held.
func (m *Metrics) tryMetrics(k tryKey) *tryMetrics {
	if t, ok := m.perTry[k]; ok {
		return t
	}
	t := &tryMetrics{attempts: m.attempts.WithLabelValues(k.target, k.reason)}
	if k.reason == "rate_limit" {
		t.rateLimits = m.rateLimits.WithLabelValues(k.target)
	}
	if m.perTry == nil {
		m.perTry = map[tryKey]*tryMetrics{}
	}
	m.perTry[k] = t
	return t
}

// coolingCollector reports llmproxy_target_cooling from the target provider
// at scrape time.
type coolingCollector struct{ m *Metrics }

var coolingDesc = prometheus.NewDesc("llmproxy_target_cooling",
	"1 while the upstream target is cooling down after a Retry-After, else 0.",
	[]string{"target"}, nil)

var stateDesc = prometheus.NewDesc("llmproxy_target_state",
	"With a routing file: 1 for the target's current state (ready, cooling, disabled, probation), 0 for the others.",
	[]string{"target", "state"}, nil)

// routedStates are the target states of a routing file, in label order.
var routedStates = [...]string{"ready", "cooling", "disabled", "probation"}

// Describe implements prometheus.Collector.
func (c coolingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- coolingDesc; ch <- stateDesc }

// Collect implements prometheus.Collector.
func (c coolingCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.targets.Load()
	if f == nil {
		return
	}
	// Two targets with one name would make the scrape fail: merge them.
	cooling := map[string]float64{}
	var order []string
	targets := (*f)()
	seen := map[string]bool{}
	for _, t := range targets {
		name := targetLabel(t.Name)
		if t.Group == "" || seen[name] { // no routing file: llmproxy_target_cooling only
			continue
		}
		seen[name] = true
		for _, st := range routedStates {
			v := 0.0
			if t.State == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(stateDesc, prometheus.GaugeValue, v, name, st)
		}
	}
	for _, t := range targets {
		name := targetLabel(t.Name)
		v := 0.0
		if t.State == "cooling" {
			v = 1
		}
		prev, seen := cooling[name]
		if !seen {
			order = append(order, name)
		}
		cooling[name] = max(prev, v)
	}
	for _, name := range order {
		ch <- prometheus.MustNewConstMetric(coolingDesc, prometheus.GaugeValue, cooling[name], name)
	}
}

// statusClass maps a client-facing status to a fixed label set.
func statusClass(status int) string {
	switch {
	case status == 499:
		return "499" // the client left; not the upstream's fault
	case status >= 200 && status < 300:
		return "2xx"
	case status >= 300 && status < 400:
		return "3xx"
	case status >= 400 && status < 500:
		return "4xx"
	case status >= 500 && status < 600:
		return "5xx"
	default:
		return "other"
	}
}

func familyLabel(f Family) string {
	switch f {
	case FamilyOpenAI, FamilyAnthropic:
		return string(f)
	default:
		return "other"
	}
}

// reasonLabel keeps Attempt.Reason within the set event.go documents.
func reasonLabel(reason string) string {
	switch reason {
	case "ok", "rate_limit", "server_error", "connect_error", "timeout", "client_error", "stream_error", "client_gone":
		return reason
	default:
		return "other"
	}
}

// targetLabel names the target; target names come from the configuration.
func targetLabel(name string) string {
	if name == "" {
		return "none"
	}
	return name
}
