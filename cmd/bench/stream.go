package main

import (
	"errors"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// StreamPhase is one measured run of concurrent streams.
type StreamPhase struct {
	// Streams is the number of concurrent streams (one connection each).
	Streams int `json:"streams"`
	// Completed streams that started in the measured window, and all
	// streams completed, ramp included.
	Completed int `json:"completed"`
	Total     int `json:"total_completed"`
	// Errors during the whole phase, ramp included: transport errors,
	// non-200 answers, streams without their terminal "[DONE]".
	Errors       int      `json:"errors"`
	ErrorSamples []string `json:"error_samples,omitempty"`
	// TTFB is from sending the request to the first body byte; Gap is
	// between consecutive events of a stream (coalesced events count 0).
	TTFB Dist `json:"ttfb"`
	Gap  Dist `json:"gap"`
	// EventsPerStream is the mean number of events a measured stream had.
	EventsPerStream float64 `json:"events_per_stream"`
	// MaxOpen is the most streams open at once (between headers and end).
	MaxOpen int     `json:"max_open"`
	Seconds float64 `json:"seconds"`
	CPU     CPU     `json:"cpu"`
	// Proxy memory, sampled every 100 ms in the measured window (proxy runs only).
	PeakRSSKB  int64 `json:"peak_rss_kb,omitempty"`
	OpenAtPeak int   `json:"open_at_peak_rss,omitempty"`
	ProxyHWMKB int64 `json:"proxy_vmhwm_kb,omitempty"`
	// GoMem is the proxy's Go runtime memory (from /metrics) in the middle
	// of the measured window, while every stream is open.
	GoMem map[string]float64 `json:"proxy_go_mem,omitempty"`
	// ProxyCPUPerStream is the proxy's CPU time in the window over the
	// streams measured, in µs.
	ProxyCPUPerStream float64 `json:"proxy_cpu_us_per_stream,omitempty"`
}

// runStreams keeps n streams going against ep: worker i starts at
// i*ramp/n, then loops one stream after another on its keep-alive
// connection until ramp+dur has passed. Streams that start in the ramp
// are not measured.
func runStreams(hc *fasthttp.HostClient, ep endpoint, n int, ramp, dur time.Duration, m meter) StreamPhase {
	start := time.Now()
	measureFrom := start.Add(ramp)
	end := measureFrom.Add(dur)
	var (
		wg         sync.WaitGroup
		errs       errorLog
		open       atomic.Int64
		total      atomic.Int64
		mu         sync.Mutex
		ttfbs      []time.Duration
		gaps       []time.Duration
		events     int
		measured   int
		stopSample = make(chan struct{})
		sampled    = make(chan StreamPhase, 1)
		maxOpen    atomic.Int64
	)
	go func() { // memory sampler
		var sp StreamPhase
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		mid := measureFrom.Add(dur / 2)
		for {
			select {
			case <-stopSample:
				sampled <- sp
				return
			case now := <-t.C:
				if sp.GoMem == nil && !now.Before(mid) && !now.After(end) {
					sp.GoMem = m.goMem()
				}
				// Only while every worker keeps a stream going: not in
				// the ramp, nor in the drain after end.
				if m.pid <= 0 || now.Before(measureFrom) || now.After(end) {
					continue
				}
				if rss, _, err := procMem(m.pid); err == nil && rss > sp.PeakRSSKB {
					sp.PeakRSSKB, sp.OpenAtPeak = rss, int(open.Load())
				}
			}
		}
	}()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Until(start.Add(ramp * time.Duration(i) / time.Duration(n))))
			req := newRequest(ep, streamBody)
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			buf := make([]byte, 4096)
			var myTTFB, myGaps []time.Duration
			myEvents, myMeasured := 0, 0
			for {
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				ttfb, evGaps, nev, err := oneStream(hc, req, resp, buf, &open, &maxOpen)
				if err != nil {
					errs.add("%v", err)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				total.Add(1)
				if t0.Before(measureFrom) {
					continue
				}
				myMeasured++
				myEvents += nev
				myTTFB = append(myTTFB, ttfb)
				myGaps = append(myGaps, evGaps...)
			}
			mu.Lock()
			ttfbs = append(ttfbs, myTTFB...)
			gaps = append(gaps, myGaps...)
			events += myEvents
			measured += myMeasured
			mu.Unlock()
		}()
	}
	time.Sleep(time.Until(measureFrom))
	r0 := m.read()
	time.Sleep(time.Until(end))
	r1 := m.read()
	wg.Wait()
	close(stopSample)
	sp := <-sampled
	sp.Streams = n
	sp.Completed = measured
	sp.Total = int(total.Load())
	sp.Errors = int(errs.n.Load())
	sp.ErrorSamples = errs.samples
	sp.TTFB = summarize(ttfbs)
	sp.Gap = summarize(gaps)
	if measured > 0 {
		sp.EventsPerStream = float64(events) / float64(measured)
	}
	sp.MaxOpen = int(maxOpen.Load())
	sp.Seconds = dur.Seconds()
	sp.CPU = cpuBetween(r0, r1)
	if m.pid > 0 && measured > 0 {
		sp.ProxyCPUPerStream = float64(sp.CPU.ProxyTotal.Microseconds()) / float64(measured)
	}
	return sp
}

var errNoDone = errors.New("stream ended without data: [DONE]")

// oneStream sends one streaming request and reads the answer to its end. It
// returns the time to the first body byte, the gaps between events and the
// number of events.
func oneStream(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response, buf []byte, open, maxOpen *atomic.Int64) (ttfb time.Duration, gaps []time.Duration, events int, err error) {
	t0 := time.Now()
	if err := hc.Do(req, resp); err != nil {
		return 0, nil, 0, err
	}
	defer func() { _ = resp.CloseBodyStream() }()
	if resp.StatusCode() != fasthttp.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.BodyStream(), 300))
		return 0, nil, 0, &statusError{resp.StatusCode(), string(b)}
	}
	for o := open.Add(1); ; {
		if cur := maxOpen.Load(); o <= cur || maxOpen.CompareAndSwap(cur, o) {
			break
		}
	}
	defer open.Add(-1)
	body := resp.BodyStream()
	var sse sseCounter
	var last time.Time
	gaps = make([]time.Duration, 0, 32)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			now := time.Now()
			if ttfb == 0 {
				ttfb = now.Sub(t0)
			}
			for range sse.Feed(buf[:n]) {
				if events > 0 {
					gaps = append(gaps, now.Sub(last))
				}
				last = now
				events++
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return ttfb, gaps, events, rerr
		}
	}
	if !sse.Done {
		return ttfb, gaps, events, errNoDone
	}
	return ttfb, gaps, events, nil
}

type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string {
	return "status " + strconv.Itoa(e.status) + ": " + e.body
}
