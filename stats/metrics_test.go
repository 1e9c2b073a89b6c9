package stats

import (
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetrics_Observe(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, "v1.2.3")
	m.Observe(okEvent())
	m.Observe(retriedEvent())
	m.Observe(goneEvent())
	m.Observe(&Event{Family: "weird", Status: 0, Outcome: OutcomeUnreachable,
		Attempts: []Attempt{{Target: "t9", Reason: "gremlins"}}})

	tests := []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"requests", m.requests.WithLabelValues("openai", "2xx", "t1"), 1},
		{"requests stream", m.requests.WithLabelValues("anthropic", "2xx", "t3"), 1},
		{"requests client gone", m.requests.WithLabelValues("openai", "499", "t1"), 1},
		{"requests bounded labels", m.requests.WithLabelValues("other", "other", "none"), 1},
		{"attempts ok", m.attempts.WithLabelValues("t1", "ok"), 2},
		{"attempts rate limit", m.attempts.WithLabelValues("t2", "rate_limit"), 1},
		{"attempts unknown reason", m.attempts.WithLabelValues("t9", "other"), 1},
		{"rate limits", m.rateLimits.WithLabelValues("t1"), 1},
		{"tokens in", m.tokens.WithLabelValues("openai", "input"), 10},
		{"tokens out", m.tokens.WithLabelValues("anthropic", "output"), 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, testutil.ToFloat64(tt.c))
		})
	}

	expected := `
# HELP llmproxy_ttfb_seconds Time from a request's arrival until the first answer byte was sent to the client.
# TYPE llmproxy_ttfb_seconds histogram
` + histogramText("llmproxy_ttfb_seconds", `family="anthropic",stream="true"`, 0.06) +
		histogramText("llmproxy_ttfb_seconds", `family="openai",stream="false"`, 0.04) +
		histogramText("llmproxy_ttfb_seconds", `family="openai",stream="true"`, 0.01)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(expected), "llmproxy_ttfb_seconds"),
		"no TTFB for the request that got no answer")
	n, err := testutil.GatherAndCount(reg, "llmproxy_request_duration_seconds")
	require.NoError(t, err)
	assert.Equal(t, 4, n, "every request has a duration, one series per family and stream")
}

// histogramText renders one histogram series holding the single value v.
func histogramText(name, labels string, v float64) string {
	var b strings.Builder
	for _, le := range latencyBuckets {
		n := 0
		if v <= le {
			n = 1
		}
		b.WriteString(name + "_bucket{" + labels + `,le="` + formatFloat(le) + `"} ` + formatFloat(float64(n)) + "\n")
	}
	b.WriteString(name + "_bucket{" + labels + `,le="+Inf"} 1` + "\n")
	b.WriteString(name + "_sum{" + labels + "} " + formatFloat(v) + "\n")
	b.WriteString(name + "_count{" + labels + "} 1\n")
	return b.String()
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func TestMetrics_gauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, "v1.2.3")
	m.InFlight.Inc()
	m.InFlight.Inc()
	m.OpenStreams.Inc()
	m.InFlight.Dec()

	expected := `
# HELP llmproxy_build_info Always 1; the labels say which build is running.
# TYPE llmproxy_build_info gauge
llmproxy_build_info{goversion="` + runtime.Version() + `",version="v1.2.3"} 1
# HELP llmproxy_in_flight_requests Proxied requests in progress.
# TYPE llmproxy_in_flight_requests gauge
llmproxy_in_flight_requests 1
# HELP llmproxy_open_streams Streamed answers being relayed.
# TYPE llmproxy_open_streams gauge
llmproxy_open_streams 1
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(expected),
		"llmproxy_build_info", "llmproxy_in_flight_requests", "llmproxy_open_streams"))
}

func TestMetrics_SetTargetProvider(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, "dev")
	n, err := testutil.GatherAndCount(reg, "llmproxy_target_cooling")
	require.NoError(t, err)
	assert.Zero(t, n, "no provider, no series")

	m.SetTargetProvider(func() []TargetState {
		return []TargetState{
			{Name: "a", State: "ok"},
			{Name: "b", State: "cooling"},
			{Name: "a", State: "cooling"}, // a duplicate name must not break the scrape
			{Name: "", State: "ok"},
		}
	})
	expected := `
# HELP llmproxy_target_cooling 1 while the upstream target is cooling down after a Retry-After, else 0.
# TYPE llmproxy_target_cooling gauge
llmproxy_target_cooling{target="a"} 1
llmproxy_target_cooling{target="b"} 1
llmproxy_target_cooling{target="none"} 0
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(expected), "llmproxy_target_cooling"))

	m.SetTargetProvider(nil)
	n, err = testutil.GatherAndCount(reg, "llmproxy_target_cooling")
	require.NoError(t, err)
	assert.Zero(t, n)
}

// With Options.Metrics the recorder observes events and exports its drop counts.
func TestMetrics_withRecorder(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, "dev")
	r := newTestRecorder(t, Options{Metrics: m})
	r.Record(okEvent())
	require.NoError(t, r.Close())
	r.Record(okEvent()) // after Close: counted, dropped

	assert.Equal(t, 1.0, testutil.ToFloat64(m.requests.WithLabelValues("openai", "2xx", "t1")), "observed by the recorder goroutine")
	expected := `
# HELP llmproxy_events_dropped_total Finished requests counted but not stored or shown because the recorder queue was full.
# TYPE llmproxy_events_dropped_total counter
llmproxy_events_dropped_total 1
# HELP llmproxy_dashboard_subscribers_dropped_total Live-feed subscribers dropped because they fell behind.
# TYPE llmproxy_dashboard_subscribers_dropped_total counter
llmproxy_dashboard_subscribers_dropped_total 0
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(expected),
		"llmproxy_events_dropped_total", "llmproxy_dashboard_subscribers_dropped_total"))
}

func TestNewMetrics_nilRegistry(t *testing.T) {
	m := NewMetrics(nil, "dev")
	m.Observe(okEvent())
	m.InFlight.Inc()
	assert.Equal(t, 1.0, testutil.ToFloat64(m.InFlight))
}

func TestStatusClass(t *testing.T) {
	tests := []struct {
		status int
		want   string
	}{
		{200, "2xx"}, {204, "2xx"}, {304, "3xx"}, {400, "4xx"}, {429, "4xx"},
		{499, "499"}, {500, "5xx"}, {529, "5xx"}, {0, "other"}, {99, "other"}, {600, "other"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, statusClass(tt.status), "status %d", tt.status)
	}
}

func TestReasonLabel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ok", "ok"}, {"rate_limit", "rate_limit"}, {"server_error", "server_error"},
		{"connect_error", "connect_error"}, {"timeout", "timeout"}, {"client_error", "client_error"},
		{"stream_error", "stream_error"}, {"client_gone", "client_gone"},
		{"", "other"}, {"Rate_Limit", "other"}, {"anything else", "other"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, reasonLabel(tt.in), "reason %q", tt.in)
	}
}

func BenchmarkMetrics_Observe(b *testing.B) {
	m := NewMetrics(prometheus.NewRegistry(), "bench")
	e := &Event{Family: FamilyOpenAI, Status: 200, Target: "t1", LatencyMs: 12, TTFBMs: 3, InputTokens: 10, OutputTokens: 20,
		Attempts: []Attempt{{Target: "t1", Status: 200, Reason: "ok"}}}
	b.ReportAllocs()
	for b.Loop() {
		m.Observe(e)
	}
}
