package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// runProfile starts the proxy with PPROF=true, runs the non-stream load
// for -profile-seconds while fetching /debug/pprof/profile for as long, then
// fetches /debug/pprof/allocs, and saves cpu.prof and allocs.prof in
// -profile-dir. With -profile-streams N it runs N concurrent streams
// instead, and also saves heap.prof (in-use memory, taken mid-run while
// every stream is open). The pprof routes want the dashboard key
// (MY_ACCESS_KEY by default) as a Bearer token.
func runProfile(o options, bin string, stdout io.Writer, logf func(string, ...any)) error {
	upOpts := sim.Options{ChunkInterval: -1, Keys: []string{apiKey}}
	prefix := ""
	if o.profileStreams > 0 {
		upOpts = sim.Options{ChunkInterval: o.chunkGap, StreamChunks: o.chunks, Keys: []string{apiKey}}
		prefix = "stream-"
	}
	up, err := sim.New(upOpts)
	if err != nil {
		return err
	}
	defer up.Close()
	p, err := startProxy(bin, up.URL(), append(append([]string(nil), o.proxyEnv...), "PPROF=true"))
	if err != nil {
		return err
	}
	defer p.stop()
	if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
		return err
	}
	ep := endpoint{addr: p.addr, path: "/v1/chat/completions", auth: "Bearer " + accessKey}
	secs := o.profileSecs
	window := time.Duration(secs) * time.Second
	cpuPath := filepath.Join(o.profileDir, prefix+"cpu.prof")
	allocsPath := filepath.Join(o.profileDir, prefix+"allocs.prof")
	heapPath := filepath.Join(o.profileDir, prefix+"heap.prof")
	saved := []string{cpuPath, allocsPath}

	// The profile starts when the warm-up (or ramp) ends, so the load's
	// measured window and the CPU profile cover the same seconds.
	lead := o.warmup
	if o.profileStreams > 0 {
		lead = o.ramp
	}
	cpuDone := make(chan error, 1)
	heapDone := make(chan error, 1)
	go func() {
		time.Sleep(lead)
		cpuDone <- fetchPprof(p.addr, "/debug/pprof/profile?seconds="+strconv.Itoa(secs), cpuPath, window+30*time.Second)
	}()
	go func() {
		if o.profileStreams == 0 {
			heapDone <- nil
			return
		}
		time.Sleep(lead + window/2)
		heapDone <- fetchPprof(p.addr, "/debug/pprof/heap", heapPath, 30*time.Second)
	}()
	var summary string
	if o.profileStreams > 0 {
		logf("profiling the proxy for %d s under %d concurrent streams", secs, o.profileStreams)
		hc := newClient(ep.addr, o.profileStreams, true, 2*time.Minute+window)
		sp := runStreams(hc, ep, o.profileStreams, o.ramp, window, meter{pid: p.pid})
		hc.CloseIdleConnections()
		summary = fmt.Sprintf("%d streams completed, %d errors, TTFB p50 %.2f ms p99 %.2f ms, peak RSS %.1f MB, proxy CPU %.0f µs/stream (%.2f cores)",
			sp.Completed, sp.Errors, sp.TTFB.P50, sp.TTFB.P99, float64(sp.PeakRSSKB)/1024, sp.ProxyCPUPerStream, sp.CPU.Proxy)
		saved = append(saved, heapPath)
	} else {
		logf("profiling the proxy for %d s under the non-stream load at %d conns", secs, o.profileConns)
		hc := newClient(ep.addr, o.profileConns, false, 30*time.Second)
		ph := runLoad(hc, ep, o.profileConns, lead, window, meter{pid: p.pid})
		hc.CloseIdleConnections()
		summary = fmt.Sprintf("%.0f rps, p50 %.2f ms, p99 %.2f ms, %d errors, proxy CPU %.1f µs/request (%.2f cores)",
			ph.RPS, ph.Latency.P50, ph.Latency.P99, ph.Errors, ph.ProxyCPUPerReq, ph.CPU.Proxy)
	}
	if err := <-cpuDone; err != nil {
		return err
	}
	if err := <-heapDone; err != nil {
		return err
	}
	if err := fetchPprof(p.addr, "/debug/pprof/allocs", allocsPath, 30*time.Second); err != nil {
		return err
	}
	binCopy := filepath.Join(o.profileDir, "llm-proxy.bin")
	if b, err := os.ReadFile(bin); err == nil {
		_ = os.WriteFile(binCopy, b, 0o755)
	}
	fmt.Fprintf(stdout, "\nLoad while profiling: %s. The profiler's own sampling costs the proxy a little.\n", summary)
	fmt.Fprintf(stdout, "Saved %s (binary: %s).\n", strings.Join(saved, ", "), binCopy)
	reports := [][]string{
		{"tool", "pprof", "-top", "-nodecount=25", cpuPath},
		{"tool", "pprof", "-top", "-cum", "-nodecount=25", cpuPath},
		{"tool", "pprof", "-top", "-sample_index=alloc_space", "-nodecount=20", allocsPath},
	}
	if o.profileStreams > 0 {
		reports = append(reports, []string{"tool", "pprof", "-top", "-sample_index=inuse_space", "-nodecount=20", heapPath})
	}
	for _, args := range reports {
		fmt.Fprintf(stdout, "\n$ go %s\n", strings.Join(args, " "))
		cmd := exec.Command("go", args...)
		cmd.Stdout, cmd.Stderr = stdout, stdout
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(stdout, "(go tool pprof: %v)\n", err)
		}
	}
	return nil
}

// fetchPprof GETs a pprof endpoint of the proxy with the dashboard key and
// writes the answer to path.
func fetchPprof(addr, uri, path string, timeout time.Duration) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + uri)
	req.Header.Set(fasthttp.HeaderAuthorization, "Bearer "+accessKey)
	if err := fasthttp.DoTimeout(req, resp, timeout); err != nil {
		return fmt.Errorf("GET %s: %w", uri, err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return fmt.Errorf("GET %s: status %d: %.200s (is PPROF honoured, and the key the dashboard key?)", uri, resp.StatusCode(), resp.Body())
	}
	return os.WriteFile(path, resp.Body(), 0o644)
}
