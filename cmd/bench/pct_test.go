package main

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", ms(7), 99, 7 * time.Millisecond},
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p100 is the max", hundred, 100, 100 * time.Millisecond},
		{"tiny p is the min", hundred, 0.001, 1 * time.Millisecond},
		{"p50 of 4 is the 2nd", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p51 of 4 is the 3rd", ms(1, 2, 3, 4), 51, 3 * time.Millisecond},
		{"p99 of 10 is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	d := []time.Duration{4 * time.Millisecond, 1 * time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond}
	got := summarize(d)
	want := Dist{N: 4, Mean: 2.5, P50: 2, P90: 4, P99: 4, Max: 4}
	if got != want {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
	if d[0] != time.Millisecond {
		t.Errorf("summarize did not sort in place: %v", d)
	}
	if got := summarize(nil); got != (Dist{}) {
		t.Errorf("summarize(nil) = %+v, want zero", got)
	}
}

func TestMergePhases(t *testing.T) {
	a := Phase{Conns: 8, Requests: 2, Total: 3, Errors: 1, Seconds: 1,
		lat: []time.Duration{time.Millisecond, 3 * time.Millisecond}, CPU: CPU{Proxy: 1, ProxyTotal: time.Millisecond}}
	b := Phase{Conns: 8, Requests: 2, Total: 2, Seconds: 1,
		lat: []time.Duration{2 * time.Millisecond, 4 * time.Millisecond}, CPU: CPU{Proxy: 0.5, ProxyTotal: 3 * time.Millisecond}}
	got := mergePhases(a, b)
	if got.Requests != 4 || got.Total != 5 || got.Errors != 1 || got.Seconds != 2 || got.RPS != 2 {
		t.Errorf("counts: got %+v", got)
	}
	if got.Latency.P50 != 2 || got.Latency.Max != 4 {
		t.Errorf("latency: got %+v, want p50 2 and max 4", got.Latency)
	}
	if got.CPU.Proxy != 0.75 || got.ProxyCPUPerReq != 1000 {
		t.Errorf("cpu: got %v cores and %v µs/req, want 0.75 and 1000", got.CPU.Proxy, got.ProxyCPUPerReq)
	}
}
