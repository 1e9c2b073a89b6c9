package stats

import (
	"encoding/json"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestSnapshotMessage(t *testing.T) {
	start := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	s := Snapshot{
		StartTime:     start,
		Now:           start.Add(90 * time.Second),
		UptimeSeconds: 90,
		Totals:        Totals{Requests: 4, Successes: 3, Failures: 1, SuccessRate: 0.75},
		Targets:       []TargetState{{Name: "t1", State: "ok"}},
		Recent:        []Event{{ID: 4, Attempts: []Attempt{{Target: "t1", Status: 200, Reason: "ok"}}}},
		Series:        []Point{{T: 1, Requests: 4, Failures: 1, AvgLatencyMs: 12.5}},
	}
	var msg map[string]any
	require.NoError(t, json.Unmarshal(SnapshotMessage(s), &msg))

	assert.Equal(t, []string{"data", "type"}, keys(msg))
	assert.Equal(t, "snapshot", msg["type"])
	data := msg["data"].(map[string]any)
	assert.Equal(t, []string{"now", "recent", "series", "start_time", "targets", "totals", "uptime_seconds"}, keys(data))
	assert.Equal(t, "2026-11-27T10:00:00Z", data["start_time"])
	assert.Equal(t, "2026-11-27T10:01:30Z", data["now"])
	assert.Equal(t, 90.0, data["uptime_seconds"])
	assert.Equal(t, []string{
		"client_gone", "failures", "input_tokens", "output_tokens", "rate_limits",
		"requests", "retries", "success_rate", "successes",
	}, keys(data["totals"].(map[string]any)))
	assert.Equal(t, 0.75, data["totals"].(map[string]any)["success_rate"])
	point := data["series"].([]any)[0].(map[string]any)
	assert.Equal(t, []string{"avg_latency_ms", "failures", "requests", "t"}, keys(point))
	recent := data["recent"].([]any)[0].(map[string]any)
	assert.Equal(t, "t1", recent["attempts"].([]any)[0].(map[string]any)["target"])
}

func TestSnapshotMessage_unencodable(t *testing.T) {
	got := SnapshotMessage(Snapshot{UptimeSeconds: math.NaN()})
	var msg struct {
		Type string `json:"type"`
		Data struct {
			Message string `json:"message"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(got, &msg))
	assert.Equal(t, "error", msg.Type)
	assert.NotEmpty(t, msg.Data.Message)
}

func TestCounters_Totals(t *testing.T) {
	tests := []struct {
		name string
		c    counters
		want Totals
	}{
		{name: "no requests", want: Totals{}},
		{
			name: "rate and failures derived",
			c:    counters{requests: 8, successes: 6, rateLimits: 3, retries: 2, clientGone: 1, inputTokens: 10, outputTokens: 20, lastID: 99},
			want: Totals{Requests: 8, Successes: 6, Failures: 2, SuccessRate: 0.75, RateLimits: 3, Retries: 2, ClientGone: 1, InputTokens: 10, OutputTokens: 20},
		},
		{name: "all fail", c: counters{requests: 2}, want: Totals{Requests: 2, Failures: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.c.totals())
		})
	}
}
