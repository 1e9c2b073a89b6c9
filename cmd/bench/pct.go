package main

import (
	"math"
	"slices"
	"time"
)

// Dist summarises a set of durations, in milliseconds.
type Dist struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean_ms"`
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, ascending durations: the smallest value with at least p% of the
// values at or below it. Zero for an empty slice.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	return sorted[min(max(rank, 1), n)-1]
}

// summarize sorts d in place and summarises it.
func summarize(d []time.Duration) Dist {
	if len(d) == 0 {
		return Dist{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	return Dist{
		N:    len(d),
		Mean: msOf(sum / time.Duration(len(d))),
		P50:  msOf(percentile(d, 50)),
		P90:  msOf(percentile(d, 90)),
		P99:  msOf(percentile(d, 99)),
		Max:  msOf(d[len(d)-1]),
	}
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
