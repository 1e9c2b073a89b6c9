package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"
)

// TargetCheck is one performance target and how the run did against it.
type TargetCheck struct {
	Name     string `json:"name"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	OK       bool   `json:"ok"`
}

// noisy reports whether other processes on the machine disturbed a
// direct-versus-proxy comparison: they took much CPU, or different amounts
// in the two phases. It returns a note for the report ("" when quiet).
func noisy(direct, proxy CPU) string {
	if max(direct.Others, proxy.Others) > 0.5 || math.Abs(direct.Others-proxy.Others) > 0.25 {
		return fmt.Sprintf(" (noisy: other processes took %.2f / %.2f cores)", direct.Others, proxy.Others)
	}
	return ""
}

// checkTargets compares the run with the project's performance targets.
// A comparison with the direct run is marked when other processes disturbed it.
func checkTargets(r *Results) []TargetCheck {
	var out []TargetCheck
	add := func(name, target, measured string, ok bool) {
		out = append(out, TargetCheck{name, target, measured, ok})
	}
	for _, n := range r.NonStream {
		note := noisy(n.Direct.CPU, n.Proxy.CPU)
		if n.Conns == 64 {
			add("proxy CPU per non-stream request, 64 conns", "≤ 40 µs", f1(n.Proxy.ProxyCPUPerReq)+" µs", n.Proxy.ProxyCPUPerReq > 0 && n.Proxy.ProxyCPUPerReq <= 40)
			add("added p99 latency, 64 conns", "< 1 ms", f2(n.AddedP99)+" ms"+note, n.AddedP99 < 1)
			if n.Floor != nil {
				add("proxy CPU per request ÷ the floor's, 64 conns", "≤ 1.25 ×", fmt.Sprintf("%.2f × (%s / %s µs)", n.FloorRatio, f1(n.Proxy.ProxyCPUPerReq), f1(n.Floor.ProxyCPUPerReq)),
					n.FloorRatio > 0 && n.FloorRatio <= 1.25)
			}
		}
		add(fmt.Sprintf("throughput share, %d conns", n.Conns), "≥ 60 %", pct(n.Share)+note, n.Share >= 0.6)
		add(fmt.Sprintf("errors, non-stream %d conns", n.Conns), "0", fmt.Sprint(n.Direct.Errors+n.Proxy.Errors), n.Direct.Errors+n.Proxy.Errors == 0)
	}
	idle := int64(0)
	for _, n := range r.NonStream {
		idle = max(idle, n.IdleRSSKB)
	}
	for _, s := range r.Streams {
		idle = max(idle, s.IdleRSSKB)
		add(fmt.Sprintf("errors, %d streams", s.Streams), "0", fmt.Sprint(s.Direct.Errors+s.Proxy.Errors), s.Direct.Errors+s.Proxy.Errors == 0)
		add(fmt.Sprintf("added TTFB p99, %d streams", s.Streams), "< 2 ms", f2(s.AddedTTFBP99)+" ms"+noisy(s.Direct.CPU, s.Proxy.CPU), s.AddedTTFBP99 < 2)
		add(fmt.Sprintf("RSS per open stream, %d streams", s.Streams), "< 60 KB", f1(s.RSSPerStreamKB)+" KB", s.RSSPerStreamKB > 0 && s.RSSPerStreamKB < 60)
	}
	if idle > 0 {
		add("idle RSS (largest after startup)", "< 30 MB", mb(idle), idle < 30<<10)
	}
	if v := r.Viewers; v != nil {
		add(fmt.Sprintf("throughput cost of %d dashboard viewers", v.Viewers), "< 5 %", fmt.Sprintf("%s ± %.1f", pct(v.Cost), v.CostCI*100)+noisy(v.Without.CPU, v.With.CPU), v.Cost < 0.05)
	}
	return out
}

func printReport(w io.Writer, r *Results) {
	fmt.Fprintf(w, "\n## llm-proxy bench — %s, %s, %d CPUs, load average %.2f → %.2f, %.0f s\n",
		r.Started.Format("2006-01-02 15:04 UTC"), r.GoVersion, r.NumCPU, r.LoadStart, r.LoadEnd, r.Seconds)
	fmt.Fprintf(w, "\nEach phase: %s warm-up, %s measured. The simulated upstream and the load generator run in the bench process and share the CPUs with the proxy; \"others\" is CPU used by other processes on the machine (noise).\n",
		r.Settings.Warmup, r.Settings.Duration)

	if len(r.NonStream) > 0 {
		fmt.Fprintf(w, "\n### Non-stream chat completions\n\n")
		t := table{head: []string{"conns", "direct rps", "proxy rps", "share", "direct p50/p99 ms", "proxy p50/p99 ms", "added p50/p99 ms",
			"errors d/p", "proxy CPU µs/req", "floor CPU µs/req (× floor)", "cores proxy/bench/others", "idle → peak RSS", "upstream conns /10k req"}}
		for _, n := range r.NonStream {
			t.add(fmt.Sprint(n.Conns), f0(n.Direct.RPS), f0(n.Proxy.RPS), pct(n.Share),
				f2(n.Direct.Latency.P50)+" / "+f2(n.Direct.Latency.P99),
				f2(n.Proxy.Latency.P50)+" / "+f2(n.Proxy.Latency.P99),
				sf2(n.AddedP50)+" / "+sf2(n.AddedP99),
				fmt.Sprintf("%d / %d", n.Direct.Errors, n.Proxy.Errors),
				f1(n.Proxy.ProxyCPUPerReq), floorCell(n), cores(n.Proxy.CPU),
				mb(n.IdleRSSKB)+" → "+mb(n.PeakRSSKB),
				fmt.Sprintf("%.1f (%d)", n.UpstreamConnsPer10k, n.UpstreamConns))
		}
		t.write(w)
	}
	if len(r.Streams) > 0 {
		fmt.Fprintf(w, "\n### Streams (%d chunks, %s apart; started over %s, then %s measured)\n\n",
			r.Settings.StreamChunks, r.Settings.ChunkInterval, r.Settings.Ramp, r.Settings.Duration)
		t := table{head: []string{"streams", "done d/p", "errors d/p", "TTFB p50/p99 direct ms", "proxy ms", "added ms",
			"gap p50/p99 (mean) direct ms", "proxy ms", "added ms", "idle RSS", "peak RSS (open)", "RSS /1k streams", "proxy CPU µs/stream", "cores proxy/bench/others", "upstream conns /10k"}}
		for _, s := range r.Streams {
			t.add(fmt.Sprint(s.Streams),
				fmt.Sprintf("%d / %d", s.Direct.Completed, s.Proxy.Completed),
				fmt.Sprintf("%d / %d", s.Direct.Errors, s.Proxy.Errors),
				f2(s.Direct.TTFB.P50)+" / "+f2(s.Direct.TTFB.P99),
				f2(s.Proxy.TTFB.P50)+" / "+f2(s.Proxy.TTFB.P99),
				sf2(s.AddedTTFBP50)+" / "+sf2(s.AddedTTFBP99),
				f2(s.Direct.Gap.P50)+" / "+f2(s.Direct.Gap.P99)+" ("+f1(s.Direct.Gap.Mean)+")",
				f2(s.Proxy.Gap.P50)+" / "+f2(s.Proxy.Gap.P99)+" ("+f1(s.Proxy.Gap.Mean)+")",
				sf2(s.AddedGapP50)+" / "+sf2(s.AddedGapP99),
				mb(s.IdleRSSKB),
				fmt.Sprintf("%s (%d)", mb(s.Proxy.PeakRSSKB), s.Proxy.OpenAtPeak),
				fmt.Sprintf("%.1f MB (%.0f KB/stream)", s.RSSPerStreamKB*1000/1024, s.RSSPerStreamKB),
				f0(s.Proxy.ProxyCPUPerStream), cores(s.Proxy.CPU),
				fmt.Sprintf("%.1f (%d)", s.UpstreamConnsPer10k, s.UpstreamConns))
		}
		t.write(w)
		for _, s := range r.Streams {
			if g := s.Proxy.GoMem; g != nil {
				perKB := func(name string) float64 { return g[name] / 1024 / float64(s.Streams) }
				fmt.Fprintf(w, "\n%d streams, proxy's Go memory mid-run: heap in use %.1f MB (%.0f KB/stream), stacks %.1f MB (%.0f KB/stream), %.0f goroutines, heap idle %.1f MB (%.1f MB released), next GC at %.1f MB.\n",
					s.Streams, g["go_memstats_heap_inuse_bytes"]/(1<<20), perKB("go_memstats_heap_inuse_bytes"),
					g["go_memstats_stack_inuse_bytes"]/(1<<20), perKB("go_memstats_stack_inuse_bytes"), g["go_goroutines"],
					g["go_memstats_heap_idle_bytes"]/(1<<20), g["go_memstats_heap_released_bytes"]/(1<<20), g["go_memstats_next_gc_bytes"]/(1<<20))
			}
		}
		for _, s := range r.Streams {
			full := 0.95 * float64(r.NumCPU)
			if s.Direct.CPU.Machine >= full || s.Proxy.CPU.Machine >= full {
				fmt.Fprintf(w, "\nNote, %d streams: the machine was saturated (%.2f cores busy direct, %.2f through the proxy, of %d; other processes %.2f / %.2f), so TTFB and gaps there are mostly CPU queueing; coalesced events give gaps of 0.\n",
					s.Streams, s.Direct.CPU.Machine, s.Proxy.CPU.Machine, r.NumCPU, s.Direct.CPU.Others, s.Proxy.CPU.Others)
			}
		}
	}
	if v := r.Viewers; v != nil {
		fmt.Fprintf(w, "\n### Dashboard viewers (non-stream load, %d conns; %d alternating slices without and with viewers)\n\n", v.Conns, 2*viewerSlices)
		t := table{head: []string{"viewers", "proxy rps", "p50/p99 ms", "proxy CPU µs/req", "errors", "cores proxy/bench/others", "ws messages (KB)"}}
		t.add("0", f0(v.Without.RPS), f2(v.Without.Latency.P50)+" / "+f2(v.Without.Latency.P99),
			f1(v.Without.ProxyCPUPerReq), fmt.Sprint(v.Without.Errors), cores(v.Without.CPU), "-")
		t.add(fmt.Sprint(v.Viewers), f0(v.With.RPS), f2(v.With.Latency.P50)+" / "+f2(v.With.Latency.P99),
			f1(v.With.ProxyCPUPerReq), fmt.Sprint(v.With.Errors), cores(v.With.CPU),
			fmt.Sprintf("%d (%d)", v.Messages, v.Bytes>>10))
		t.write(w)
		fmt.Fprintf(w, "\nThroughput cost of %d viewers: %s (± %.1f points over the paired slices); proxy CPU per request %s ± %.1f µs.\n",
			v.Viewers, pct(v.Cost), v.CostCI*100, sf1(v.CPUDelta), v.CPUDeltaCI)
	}
	if len(r.Targets) > 0 {
		fmt.Fprintf(w, "\n### Targets\n\n")
		t := table{head: []string{"target", "goal", "measured", "ok"}}
		for _, c := range r.Targets {
			ok := "no"
			if c.OK {
				ok = "yes"
			}
			t.add(c.Name, c.Target, c.Measured, ok)
		}
		t.write(w)
	}
	var samples []string
	for _, n := range r.NonStream {
		samples = append(samples, n.Direct.ErrorSamples...)
		samples = append(samples, n.Proxy.ErrorSamples...)
	}
	for _, s := range r.Streams {
		samples = append(samples, s.Direct.ErrorSamples...)
		samples = append(samples, s.Proxy.ErrorSamples...)
	}
	if len(samples) > 0 {
		fmt.Fprintf(w, "\nError samples:\n")
		for _, s := range samples {
			fmt.Fprintf(w, "- %s\n", s)
		}
	}
	if len(r.Problems) > 0 {
		fmt.Fprintf(w, "\nProblems:\n")
		for _, p := range r.Problems {
			fmt.Fprintf(w, "- %s\n", p)
		}
	}
}

// table is a markdown table whose columns are padded to line up in a terminal too.
type table struct {
	head []string
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) {
	width := make([]int, len(t.head))
	for i, h := range t.head {
		width[i] = utf8.RuneCountInString(h)
	}
	for _, r := range t.rows {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range cells {
			b.WriteString(" " + c + strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)) + " |")
		}
		fmt.Fprintln(w, b.String())
	}
	line(t.head)
	sep := make([]string, len(t.head))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, r := range t.rows {
		line(r)
	}
}

func f0(v float64) string  { return fmt.Sprintf("%.0f", v) }
func f1(v float64) string  { return fmt.Sprintf("%.1f", v) }
func f2(v float64) string  { return fmt.Sprintf("%.2f", v) }
func sf1(v float64) string { return fmt.Sprintf("%+.1f", v) }
func sf2(v float64) string { return fmt.Sprintf("%+.2f", v) }
func pct(v float64) string { return fmt.Sprintf("%.1f %%", v*100) }
func cores(c CPU) string {
	return fmt.Sprintf("%.2f / %.2f / %.2f", c.Proxy, c.Bench, c.Others)
}
func mb(kb int64) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }

// floorCell is the floor's CPU per request and the proxy's ratio to it.
func floorCell(n NonStreamResult) string {
	if n.Floor == nil {
		return "-"
	}
	return fmt.Sprintf("%s (%.2f ×)", f1(n.Floor.ProxyCPUPerReq), n.FloorRatio)
}
