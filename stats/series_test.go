package stats

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSeries_Points(t *testing.T) {
	type add struct {
		t       int64
		latency float64
		failed  bool
	}
	const now = 1_800_000_000
	tests := []struct {
		name string
		adds []add
		now  int64
		want []Point
	}{
		{name: "no traffic", now: now, want: []Point{}},
		{
			name: "one second averaged",
			adds: []add{{now, 100, false}, {now, 300, true}},
			now:  now,
			want: []Point{{T: now, Requests: 2, Failures: 1, AvgLatencyMs: 200}},
		},
		{
			name: "oldest first, quiet seconds skipped",
			adds: []add{{now - 5, 10, false}, {now, 20, false}, {now - 599, 30, true}},
			now:  now,
			want: []Point{
				{T: now - 599, Requests: 1, Failures: 1, AvgLatencyMs: 30},
				{T: now - 5, Requests: 1, AvgLatencyMs: 10},
				{T: now, Requests: 1, AvgLatencyMs: 20},
			},
		},
		{
			name: "older than 10 minutes falls out",
			adds: []add{{now - 600, 10, false}, {now - 1, 20, false}},
			now:  now,
			want: []Point{{T: now - 1, Requests: 1, AvgLatencyMs: 20}},
		},
		{
			name: "a reused slot starts afresh",
			adds: []add{{now - 600, 10, true}, {now, 20, false}},
			now:  now,
			want: []Point{{T: now, Requests: 1, AvgLatencyMs: 20}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s series
			for _, a := range tt.adds {
				s.add(a.t, a.latency, a.failed)
			}
			assert.Equal(t, tt.want, s.points(tt.now))
		})
	}
}

func TestSeries_Point(t *testing.T) {
	var s series
	assert.Nil(t, s.point(100), "no traffic")
	s.add(100, 50, false)
	assert.Equal(t, &Point{T: 100, Requests: 1, AvgLatencyMs: 50}, s.point(100))
	assert.Nil(t, s.point(700), "same slot, other second")
}

func TestSeries_PointsBetween(t *testing.T) {
	var s series
	s.add(100, 10, false)
	s.add(101, 20, false)
	s.add(101, 30, true)
	got := s.pointsBetween(100, 101)
	if len(got) != 2 || got[0].T != 100 || got[1].T != 101 || got[1].Requests != 2 {
		t.Fatalf("pointsBetween(100, 101) = %+v", got)
	}
	if got := s.pointsBetween(101, 101); len(got) != 1 || got[0].T != 101 {
		t.Fatalf("pointsBetween(101, 101) = %+v", got)
	}
	if got := s.pointsBetween(102, 105); len(got) != 0 {
		t.Fatalf("empty seconds give no points, got %+v", got)
	}
}
