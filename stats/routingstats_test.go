package stats

import (
	"strconv"
	"testing"
	"time"
)

func TestRoutingStats_WindowsAndTable(t *testing.T) {
	var rs routingStats
	now := time.Date(2026, 12, 1, 23, 59, 0, 0, time.UTC)
	old := now.Add(-6 * time.Minute)
	rs.add(&Event{Model: "gpt-4o", ServedModel: "gpt-4o", Status: 200, Outcome: OutcomeOK, Attempts: []Attempt{{Target: "a", Reason: "ok", DurationMs: 99}}, InputTokens: 5}, old)
	rs.add(&Event{Model: "gpt-4o", ServedModel: "gpt-4o-mini", Fallbacks: 1, Status: 200, Outcome: OutcomeOK, InputTokens: 3, OutputTokens: 7,
		Attempts: []Attempt{{Target: "a", Reason: "rate_limit", DurationMs: 10}, {Target: "b", Reason: "ok", DurationMs: 30}, {Target: "a", Reason: "ok", DurationMs: 20}}}, now)
	rs.add(&Event{Model: "fast", ServedModel: "gpt-4o-mini", Status: 502, Outcome: OutcomeUnreachable, Attempts: []Attempt{{Target: "b", Reason: "connect_error", DurationMs: 50}}}, now.Add(2*time.Minute)) // the next day (UTC)

	w := rs.windows(now.Add(2 * time.Minute))
	if len(w) != 2 || w[0] != (TargetWindow{Name: "a", Requests: 2, Errors: 1, P50Ms: 10}) || w[1] != (TargetWindow{Name: "b", Requests: 2, Errors: 1, P50Ms: 30}) {
		t.Errorf("windows = %+v (the 6-minute-old attempt is out)", w)
	}
	tb := rs.table()
	if tb.Day != "2026-12-02" || len(tb.Today) != 1 || tb.Today[0].Model != "fast" || tb.Today[0].Failures != 1 {
		t.Errorf("today = %+v", tb)
	}
	if len(tb.SinceStart) != 2 || tb.SinceStart[0] != (ModelRow{Model: "gpt-4o", Requests: 2, Fallbacks: 1, InputTokens: 8, OutputTokens: 7}) {
		t.Errorf("since start = %+v", tb.SinceStart)
	}
}

func TestRoutingStats_ModelRowsBounded(t *testing.T) {
	var rs routingStats
	now := time.Now()
	for i := range maxModelRows + 50 {
		rs.add(&Event{Model: "m" + strconv.Itoa(i), ServedModel: "x", Status: 200, Outcome: OutcomeOK}, now)
	}
	if n := len(rs.table().SinceStart); n != maxModelRows+1 {
		t.Errorf("rows = %d, want %d (with (other))", n, maxModelRows+1)
	}
}

func TestRoutingStats_NothingWithoutRoutingFile(t *testing.T) {
	var rs routingStats
	if rs.windows(time.Now()) != nil || rs.table() != nil {
		t.Error("figures without any routed request")
	}
}
