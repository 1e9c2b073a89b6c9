package main

import (
	"bytes"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// meter takes CPU readings of the proxy process (pid 0: none), of this
// process (load generator plus the simulated upstream) and of the machine.
type meter struct {
	pid  int
	addr string // the proxy's address, for /metrics (empty: none)
}

type reading struct {
	at         time.Time
	proxy      time.Duration
	self       time.Duration
	busy, tot  uint64 // machine jiffies
	ncpu       int
	proxyError error
}

func (m meter) read() reading {
	r := reading{at: time.Now()}
	if m.pid > 0 {
		r.proxy, r.proxyError = procCPU(m.pid)
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		r.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	r.busy, r.tot, r.ncpu = machineCPU()
	return r
}

// CPU is where the CPU went during a measured window, in cores (CPU
// seconds per second; the machine has MachineCores of them).
type CPU struct {
	// Proxy is the proxy process (utime+stime from /proc/<pid>/stat).
	Proxy float64 `json:"proxy_cores"`
	// Bench is this process: load generator and simulated upstream.
	Bench float64 `json:"bench_cores"`
	// Machine is every process on the machine.
	Machine float64 `json:"machine_cores"`
	// Others is Machine - Proxy - Bench: other users of the shared machine.
	Others float64 `json:"others_cores"`
	// ProxyTotal is the proxy's CPU time in the window.
	ProxyTotal time.Duration `json:"-"`
}

func cpuBetween(a, b reading) CPU {
	secs := b.at.Sub(a.at).Seconds()
	if secs <= 0 {
		return CPU{}
	}
	c := CPU{
		Proxy:      (b.proxy - a.proxy).Seconds() / secs,
		Bench:      (b.self - a.self).Seconds() / secs,
		ProxyTotal: b.proxy - a.proxy,
	}
	if dt := b.tot - a.tot; dt > 0 {
		c.Machine = float64(b.busy-a.busy) / float64(dt) * float64(max(b.ncpu, 1))
		c.Others = max(0, c.Machine-c.Proxy-c.Bench)
	}
	return c
}

func (c CPU) add(o CPU, w1, w2 float64) CPU {
	mix := func(x, y float64) float64 { return (x*w1 + y*w2) / (w1 + w2) }
	return CPU{
		Proxy: mix(c.Proxy, o.Proxy), Bench: mix(c.Bench, o.Bench),
		Machine: mix(c.Machine, o.Machine), Others: mix(c.Others, o.Others),
		ProxyTotal: c.ProxyTotal + o.ProxyTotal,
	}
}

// goMemMetrics are the Go runtime gauges read from the proxy's /metrics.
var goMemMetrics = []string{
	"go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes",
	"go_memstats_heap_idle_bytes", "go_memstats_heap_released_bytes", "go_memstats_sys_bytes",
	"go_memstats_next_gc_bytes",
}

// parseMetrics picks the named unlabelled gauges out of a Prometheus text exposition.
func parseMetrics(text []byte, names []string) map[string]float64 {
	out := map[string]float64{}
	for line := range bytes.Lines(text) {
		f := bytes.Fields(line)
		if len(f) != 2 || bytes.HasPrefix(f[0], []byte("#")) {
			continue
		}
		if !slices.Contains(names, string(f[0])) {
			continue
		}
		if v, err := strconv.ParseFloat(string(f[1]), 64); err == nil {
			out[string(f[0])] = v
		}
	}
	return out
}

// goMem reads the proxy's Go memory gauges from its /metrics (nil on error).
func (m meter) goMem() map[string]float64 {
	if m.addr == "" {
		return nil
	}
	status, body, err := fasthttp.GetTimeout(nil, "http://"+m.addr+"/metrics", 5*time.Second)
	if err != nil || status != fasthttp.StatusOK {
		return nil
	}
	return parseMetrics(body, goMemMetrics)
}
