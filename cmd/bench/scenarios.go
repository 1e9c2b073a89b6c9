package main

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// Results is everything one bench run measured (the JSON output).
type Results struct {
	Started   time.Time `json:"started"`
	Seconds   float64   `json:"seconds"`
	GoVersion string    `json:"go_version"`
	NumCPU    int       `json:"num_cpu"`
	NoFile    uint64    `json:"rlimit_nofile"`
	// LoadStart and LoadEnd are the machine's 1-minute load average.
	LoadStart float64           `json:"loadavg_start"`
	LoadEnd   float64           `json:"loadavg_end"`
	Settings  Settings          `json:"settings"`
	NonStream []NonStreamResult `json:"nonstream,omitempty"`
	Streams   []StreamResult    `json:"streams,omitempty"`
	Viewers   *ViewersResult    `json:"viewers,omitempty"`
	Targets   []TargetCheck     `json:"targets"`
	Problems  []string          `json:"problems,omitempty"`
}

// Settings are the flags the run used.
type Settings struct {
	Duration      string   `json:"duration"`
	Warmup        string   `json:"warmup"`
	Ramp          string   `json:"ramp"`
	Conns         []int    `json:"conns"`
	Streams       []int    `json:"streams"`
	Viewers       int      `json:"viewers"`
	StreamChunks  int      `json:"stream_chunks"`
	ChunkInterval string   `json:"chunk_interval"`
	ProxyEnv      []string `json:"proxy_env,omitempty"`
}

// NonStreamResult compares one connection count, direct and through the proxy.
type NonStreamResult struct {
	Conns  int   `json:"conns"`
	Direct Phase `json:"direct"`
	Proxy  Phase `json:"proxy"`
	// Share is proxy rps / direct rps.
	Share float64 `json:"throughput_share"`
	// AddedP50 and AddedP99 are proxy minus direct latency percentiles, ms.
	AddedP50 float64 `json:"added_p50_ms"`
	AddedP99 float64 `json:"added_p99_ms"`
	// IdleRSSKB is the proxy's VmRSS after startup; PeakRSSKB its VmHWM after the load.
	IdleRSSKB int64 `json:"proxy_idle_rss_kb"`
	PeakRSSKB int64 `json:"proxy_peak_rss_kb"`
	// Floor is the floor relay under the same load (nil when not measured),
	// and FloorRatio the proxy's CPU per request divided by the floor's.
	Floor      *Phase  `json:"floor,omitempty"`
	FloorRatio float64 `json:"cpu_ratio_to_floor,omitempty"`
	// UpstreamConns is how many connections the proxy opened to the upstream
	// during the phase, warm-up included; Per10k scales it to 10,000 requests.
	UpstreamConns       int     `json:"upstream_conns"`
	UpstreamConnsPer10k float64 `json:"upstream_conns_per_10k"`
}

// StreamResult compares one stream concurrency, direct and through the proxy.
type StreamResult struct {
	Streams      int         `json:"streams"`
	Direct       StreamPhase `json:"direct"`
	Proxy        StreamPhase `json:"proxy"`
	AddedTTFBP50 float64     `json:"added_ttfb_p50_ms"`
	AddedTTFBP99 float64     `json:"added_ttfb_p99_ms"`
	AddedGapP50  float64     `json:"added_gap_p50_ms"`
	AddedGapP99  float64     `json:"added_gap_p99_ms"`
	// IdleRSSKB is VmRSS after startup; BaseRSSKB after a few warm-up
	// requests, the baseline of RSSPerStreamKB = (peak sampled VmRSS -
	// BaseRSSKB) / streams.
	IdleRSSKB           int64   `json:"proxy_idle_rss_kb"`
	BaseRSSKB           int64   `json:"proxy_warm_idle_rss_kb"`
	RSSPerStreamKB      float64 `json:"proxy_rss_per_stream_kb"`
	UpstreamConns       int     `json:"upstream_conns"`
	UpstreamConnsPer10k float64 `json:"upstream_conns_per_10k"`
}

// ViewersResult is the non-stream load without and with dashboard viewers.
type ViewersResult struct {
	Viewers int `json:"viewers"`
	Conns   int `json:"conns"`
	// Without and With are each measured in viewerSlices slices of
	// duration/viewerSlices, alternating, so a drifting machine load cancels out.
	Without Phase `json:"without"`
	With    Phase `json:"with"`
	// Cost is 1 - with rps / without rps; CostCI the half-width of its ~95%
	// confidence interval from the paired slices.
	Cost   float64 `json:"throughput_cost"`
	CostCI float64 `json:"throughput_cost_ci"`
	// CPUDelta is the change in the proxy's CPU µs per request with the
	// viewers (mean of paired slices), CPUDeltaCI its ~95% half-width.
	CPUDelta   float64 `json:"proxy_cpu_us_per_req_delta"`
	CPUDeltaCI float64 `json:"proxy_cpu_us_per_req_delta_ci"`
	// Messages and Bytes the viewers received during the With phase.
	Messages int64 `json:"ws_messages"`
	Bytes    int64 `json:"ws_bytes"`
	// StillOpen is how many viewers were still connected at the end of the last slice.
	StillOpen int `json:"still_open"`
}

type bench struct {
	o        options
	bin      string
	floorBin string // "" when the floor is not measured
	logf     func(string, ...any)
	res      *Results
}

func (b *bench) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.logf("PROBLEM: %s", msg)
	b.res.Problems = append(b.res.Problems, msg)
}

func (b *bench) startProxy(up *sim.Server, extra ...string) *proxyProc {
	p, err := startProxy(b.bin, up.URL(), append(append([]string(nil), b.o.proxyEnv...), extra...))
	if err != nil {
		b.problem("start proxy: %v", err)
		return nil
	}
	return p
}

// stopProxy stops p and notes it if it had died under load.
func (b *bench) stopProxy(p *proxyProc, what string) {
	if !p.alive() {
		b.problem("%s: the proxy process died: %s", what, p.output())
		return
	}
	p.stop()
	if out := p.output(); out != "" {
		b.logf("%s: proxy said: %s", what, out)
	}
}

func (b *bench) nonStream(up *sim.Server, conns int) {
	r := NonStreamResult{Conns: conns}
	b.logf("nonstream %d conns: direct", conns)
	direct := endpoint{addr: up.Addr(), path: "/v1/chat/completions", auth: "Bearer " + apiKey}
	hc := newClient(direct.addr, conns, false, 30*time.Second)
	r.Direct = runLoad(hc, direct, conns, b.o.warmup, b.o.duration, meter{})
	hc.CloseIdleConnections()

	b.logf("nonstream %d conns: proxy", conns)
	p := b.startProxy(up)
	if p == nil {
		return
	}
	r.IdleRSSKB, _, _ = procMem(p.pid)
	opened := up.ConnsOpened()
	ep := endpoint{addr: p.addr, path: "/v1/chat/completions", auth: "Bearer " + accessKey}
	hc = newClient(ep.addr, conns, false, 30*time.Second)
	r.Proxy = runLoad(hc, ep, conns, b.o.warmup, b.o.duration, meter{pid: p.pid})
	hc.CloseIdleConnections()
	r.UpstreamConns = up.ConnsOpened() - opened
	if r.Proxy.Total > 0 {
		r.UpstreamConnsPer10k = float64(r.UpstreamConns) / float64(r.Proxy.Total) * 10000
	}
	_, r.PeakRSSKB, _ = procMem(p.pid)
	b.stopProxy(p, fmt.Sprintf("nonstream %d", conns))

	if r.Direct.RPS > 0 {
		r.Share = r.Proxy.RPS / r.Direct.RPS
	}
	r.AddedP50 = r.Proxy.Latency.P50 - r.Direct.Latency.P50
	r.AddedP99 = r.Proxy.Latency.P99 - r.Direct.Latency.P99
	if b.floorBin != "" {
		b.floor(up, &r)
	}
	b.res.NonStream = append(b.res.NonStream, r)
}

// floor measures the floor relay under the nonstream load of r.
func (b *bench) floor(up *sim.Server, r *NonStreamResult) {
	b.logf("nonstream %d conns: floor", r.Conns)
	f, err := startFloor(b.floorBin, up.Addr())
	if err != nil {
		b.problem("floor relay: %v", err)
		return
	}
	ep := endpoint{addr: f.addr, path: "/v1/chat/completions", auth: "Bearer " + floorClientKey}
	hc := newClient(ep.addr, r.Conns, false, 30*time.Second)
	ph := runLoad(hc, ep, r.Conns, b.o.warmup, b.o.duration, meter{pid: f.pid})
	hc.CloseIdleConnections()
	if !f.alive() {
		b.problem("floor relay died: %s", f.output())
	}
	f.stop()
	r.Floor = &ph
	if ph.ProxyCPUPerReq > 0 {
		r.FloorRatio = r.Proxy.ProxyCPUPerReq / ph.ProxyCPUPerReq
	}
}

func (b *bench) streams(up *sim.Server, n int) {
	r := StreamResult{Streams: n}
	timeout := 2*time.Minute + b.o.duration
	b.logf("stream %d: direct", n)
	direct := endpoint{addr: up.Addr(), path: "/v1/chat/completions", auth: "Bearer " + apiKey}
	hc := newClient(direct.addr, n, true, timeout)
	r.Direct = runStreams(hc, direct, n, b.o.ramp, b.o.duration, meter{})
	hc.CloseIdleConnections()
	time.Sleep(300 * time.Millisecond) // let the upstream's side of those connections close

	b.logf("stream %d: proxy", n)
	p := b.startProxy(up)
	if p == nil {
		return
	}
	r.IdleRSSKB, _, _ = procMem(p.pid)
	ep := endpoint{addr: p.addr, path: "/v1/chat/completions", auth: "Bearer " + accessKey}
	opened := up.ConnsOpened()
	b.warm(ep)
	time.Sleep(200 * time.Millisecond)
	r.BaseRSSKB, _, _ = procMem(p.pid)
	hc = newClient(ep.addr, n, true, timeout)
	r.Proxy = runStreams(hc, ep, n, b.o.ramp, b.o.duration, meter{pid: p.pid, addr: p.addr})
	hc.CloseIdleConnections()
	r.UpstreamConns = up.ConnsOpened() - opened
	if r.Proxy.Total > 0 {
		r.UpstreamConnsPer10k = float64(r.UpstreamConns) / float64(r.Proxy.Total+warmStreams) * 10000
	}
	_, r.Proxy.ProxyHWMKB, _ = procMem(p.pid)
	b.stopProxy(p, fmt.Sprintf("stream %d", n))

	if r.Proxy.PeakRSSKB > 0 {
		r.RSSPerStreamKB = float64(r.Proxy.PeakRSSKB-r.BaseRSSKB) / float64(n)
	}
	r.AddedTTFBP50 = r.Proxy.TTFB.P50 - r.Direct.TTFB.P50
	r.AddedTTFBP99 = r.Proxy.TTFB.P99 - r.Direct.TTFB.P99
	r.AddedGapP50 = r.Proxy.Gap.P50 - r.Direct.Gap.P50
	r.AddedGapP99 = r.Proxy.Gap.P99 - r.Direct.Gap.P99
	b.res.Streams = append(b.res.Streams, r)
}

// warmStreams is how many streams warm sends.
const warmStreams = 2

// warm sends a few requests through the proxy so that the memory baseline
// includes what any traffic touches once (code pages, pools, first GC).
func (b *bench) warm(ep endpoint) {
	hc := newClient(ep.addr, 1, true, 30*time.Second)
	defer hc.CloseIdleConnections()
	req := newRequest(ep, streamBody)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	var open, maxOpen atomic.Int64
	buf := make([]byte, 4096)
	for range warmStreams {
		if _, _, _, err := oneStream(hc, req, resp, buf, &open, &maxOpen); err != nil {
			b.problem("warm-up stream through the proxy: %v", err)
			return
		}
	}
}

// viewerSlices is how many measured slices each arm of the viewers
// scenario gets; the arms alternate (A B B A A B B A) so that a machine
// whose speed drifts treats both alike.
const viewerSlices = 4

func (b *bench) viewers(up *sim.Server, conns int) {
	r := &ViewersResult{Viewers: b.o.viewers, Conns: conns}
	b.logf("viewers: %d conns, alternately without and with %d viewers", conns, b.o.viewers)
	p := b.startProxy(up)
	if p == nil {
		return
	}
	defer b.stopProxy(p, "viewers")
	ep := endpoint{addr: p.addr, path: "/v1/chat/completions", auth: "Bearer " + accessKey}
	hc := newClient(ep.addr, conns, false, 30*time.Second)
	defer hc.CloseIdleConnections()
	m := meter{pid: p.pid}
	slice := b.o.duration / viewerSlices
	runLoad(hc, ep, conns, 0, b.o.warmup, meter{}) // warm-up
	var without, with []Phase
	for i := range 2 * viewerSlices {
		withViewers := i%4 == 1 || i%4 == 2
		if !withViewers {
			without = append(without, runLoad(hc, ep, conns, 200*time.Millisecond, slice, m))
			continue
		}
		v, err := connectViewers(p.addr, b.o.viewers)
		if err != nil {
			b.problem("viewers: %v", err)
			return
		}
		msgs0, bytes0 := v.msgs.Load(), v.bytes.Load()
		with = append(with, runLoad(hc, ep, conns, 200*time.Millisecond, slice, m))
		r.Messages += v.msgs.Load() - msgs0
		r.Bytes += v.bytes.Load() - bytes0
		if open := int(v.alive.Load()); open < b.o.viewers {
			b.problem("viewers: only %d of %d still connected after a slice", open, b.o.viewers)
		}
		r.StillOpen = int(v.alive.Load())
		v.close()
	}
	r.Without, r.With = without[0], with[0]
	var costs []float64
	for i := range without {
		if i > 0 {
			r.Without, r.With = mergePhases(r.Without, without[i]), mergePhases(r.With, with[i])
		}
		if without[i].RPS > 0 {
			costs = append(costs, 1-with[i].RPS/without[i].RPS)
		}
	}
	if r.Without.RPS > 0 {
		r.Cost = 1 - r.With.RPS/r.Without.RPS
	}
	zero := make([]float64, len(costs))
	_, r.CostCI = pairedDiff(zero, costs)
	var wcpu, vcpu []float64
	for i := range without {
		wcpu, vcpu = append(wcpu, without[i].ProxyCPUPerReq), append(vcpu, with[i].ProxyCPUPerReq)
	}
	r.CPUDelta, r.CPUDeltaCI = pairedDiff(wcpu, vcpu)
	b.res.Viewers = r
}
