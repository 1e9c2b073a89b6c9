package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// CompareResult is an A/B comparison of two proxy binaries under the same
// non-stream load, run in alternating slices so that both see the same
// machine (a shared machine's speed drifts by tens of percent over a minute).
type CompareResult struct {
	A, B   string `json:"-"`
	Conns  int    `json:"conns"`
	Rounds int    `json:"rounds"`
	// Per-slice measurements, in run order.
	ACPU, BCPU []float64 `json:"-"`
	ARPS, BRPS []float64 `json:"-"`
	AP99, BP99 []float64 `json:"-"`
}

// compare runs rounds × 2 slices of the non-stream load: A then B on odd
// rounds, B then A on even ones.
func compare(o options, binA, binB string, logf func(string, ...any)) (*CompareResult, error) {
	up, err := sim.New(sim.Options{ChunkInterval: -1, Keys: []string{apiKey}})
	if err != nil {
		return nil, err
	}
	defer up.Close()
	conns := o.conns[0]
	type side struct {
		p  *proxyProc
		ep endpoint
	}
	var sides [2]side
	for i, bin := range []string{binA, binB} {
		p, err := startProxy(bin, up.URL(), o.proxyEnv)
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", bin, err)
		}
		defer p.stop()
		sides[i] = side{p, endpoint{addr: p.addr, path: "/v1/chat/completions", auth: "Bearer " + accessKey}}
	}
	r := &CompareResult{A: binA, B: binB, Conns: conns, Rounds: o.rounds}
	for i := range 2 { // warm both
		hc := newClient(sides[i].ep.addr, conns, false, 30*time.Second)
		runLoad(hc, sides[i].ep, conns, o.warmup, time.Second, meter{})
		hc.CloseIdleConnections()
	}
	for round := range o.rounds {
		order := []int{0, 1}
		if round%2 == 1 {
			order = []int{1, 0}
		}
		for _, i := range order {
			s := sides[i]
			hc := newClient(s.ep.addr, conns, false, 30*time.Second)
			ph := runLoad(hc, s.ep, conns, 300*time.Millisecond, o.duration, meter{pid: s.p.pid})
			hc.CloseIdleConnections()
			if ph.Errors > 0 {
				logf("compare: %d errors on %s: %v", ph.Errors, []string{"A", "B"}[i], ph.ErrorSamples)
			}
			if i == 0 {
				r.ACPU, r.ARPS, r.AP99 = append(r.ACPU, ph.ProxyCPUPerReq), append(r.ARPS, ph.RPS), append(r.AP99, ph.Latency.P99)
			} else {
				r.BCPU, r.BRPS, r.BP99 = append(r.BCPU, ph.ProxyCPUPerReq), append(r.BRPS, ph.RPS), append(r.BP99, ph.Latency.P99)
			}
		}
		logf("compare round %d/%d: A %.1f µs/req, B %.1f µs/req", round+1, o.rounds, r.ACPU[round], r.BCPU[round])
	}
	for _, s := range sides {
		if !s.p.alive() {
			return nil, fmt.Errorf("a proxy died: %s", s.p.output())
		}
	}
	return r, nil
}

// pairedDiff returns the mean of b[i]-a[i] and the half-width of its ~95%
// confidence interval (2 standard errors).
func pairedDiff(a, b []float64) (mean, ci float64) {
	n := min(len(a), len(b))
	if n == 0 {
		return 0, 0
	}
	d := make([]float64, n)
	for i := range n {
		d[i] = b[i] - a[i]
		mean += d[i]
	}
	mean /= float64(n)
	if n < 2 {
		return mean, math.NaN()
	}
	var ss float64
	for _, x := range d {
		ss += (x - mean) * (x - mean)
	}
	return mean, 2 * math.Sqrt(ss/float64(n-1)/float64(n))
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printCompare(w io.Writer, r *CompareResult) {
	fmt.Fprintf(w, "\n### A/B: non-stream load at %d conns, %d rounds of alternating slices\n\nA = %s\nB = %s\n\n", r.Conns, r.Rounds, r.A, r.B)
	t := table{head: []string{"metric", "A median", "B median", "B - A (mean of pairs ± 2 SE)"}}
	row := func(name string, a, b []float64, format string) {
		m, ci := pairedDiff(a, b)
		t.add(name, fmt.Sprintf(format, median(a)), fmt.Sprintf(format, median(b)), fmt.Sprintf("%+.2f ± %.2f", m, ci))
	}
	row("proxy CPU µs/req", r.ACPU, r.BCPU, "%.2f")
	row("rps", r.ARPS, r.BRPS, "%.0f")
	row("p99 ms", r.AP99, r.BP99, "%.2f")
	t.write(w)
}
