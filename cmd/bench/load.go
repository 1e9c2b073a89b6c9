package main

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// endpoint is where a load goes: the proxy, or the upstream directly.
type endpoint struct {
	addr string // host:port
	path string // e.g. /v1/chat/completions
	auth string // Authorization header value
}

// The request bodies: a small, typical chat completion.
var (
	chatBody   = []byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Write one sentence about the sea."}],"temperature":0.7}`)
	streamBody = []byte(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Write one sentence about the sea."}],"temperature":0.7}`)
)

// newClient returns a keep-alive client for up to conns connections to addr.
// Why fasthttp's HostClient rather than net/http: no goroutine per
// connection and no allocation per request, so the load generator, which
// shares the 2 cores with the proxy, takes the least CPU from it.
func newClient(addr string, conns int, stream bool, timeout time.Duration) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                      addr,
		Dial:                      dialSpread,
		MaxConns:                  conns,
		MaxConnWaitTimeout:        timeout,
		MaxIdleConnDuration:       time.Minute,
		ReadTimeout:               timeout, // with a streamed body: the whole stream
		WriteTimeout:              timeout,
		MaxIdemponentCallAttempts: 1,
		NoDefaultUserAgentHeader:  true,
		DisablePathNormalizing:    true,
		StreamResponseBody:        stream,
	}
}

// clientAddrs is how many loopback source addresses the load comes from.
const clientAddrs = 16

var dialSeq atomic.Uint32

// dialSpread dials addr from 127.0.0.1 to 127.0.0.16 in turn when addr is an
// IPv4 loopback address: the load comes from many clients, as it does in
// use, rather than from one address, which the proxy's default
// MAX_CONNS_PER_IP (1024) would cap — 5,000 streams from one address are
// refused by design. (All of 127.0.0.0/8 is local on Linux.)
func dialSpread(addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() && ip.To4() != nil {
		d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(dialSeq.Add(1)%clientAddrs+1))}
	}
	return d.Dial("tcp4", addr)
}

func newRequest(ep endpoint, body []byte) *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI("http://" + ep.addr + ep.path)
	req.Header.Set(fasthttp.HeaderAuthorization, ep.auth)
	req.Header.SetContentType("application/json")
	req.SetBodyRaw(body)
	return req
}

// errorLog counts errors and keeps the first few distinct texts.
type errorLog struct {
	n       atomic.Int64
	mu      sync.Mutex
	samples []string
}

func (e *errorLog) add(format string, args ...any) {
	e.n.Add(1)
	msg := fmt.Sprintf(format, args...)
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.samples) >= 5 {
		return
	}
	for _, s := range e.samples {
		if s == msg {
			return
		}
	}
	e.samples = append(e.samples, msg)
}

// Phase is one measured run of the non-stream load.
type Phase struct {
	Conns int `json:"conns"`
	// Requests completed in the measured window (warm-up excluded).
	Requests int `json:"requests"`
	// Total requests completed, warm-up included.
	Total int `json:"total_requests"`
	// Errors during the whole phase, warm-up included.
	Errors       int      `json:"errors"`
	ErrorSamples []string `json:"error_samples,omitempty"`
	Seconds      float64  `json:"seconds"`
	RPS          float64  `json:"rps"`
	Latency      Dist     `json:"latency"`
	CPU          CPU      `json:"cpu"`
	// ProxyCPUPerReq is the proxy's CPU time per measured request, in µs.
	ProxyCPUPerReq float64 `json:"proxy_cpu_us_per_req,omitempty"`

	lat []time.Duration // the measured latencies, sorted
}

// runLoad keeps conns requests in flight against ep for warmup+dur: each
// worker loops over one keep-alive connection. Requests that start in the
// warm-up are not measured; m is read at the start and end of the window.
func runLoad(hc *fasthttp.HostClient, ep endpoint, conns int, warmup, dur time.Duration, m meter) Phase {
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(dur)
	var (
		wg    sync.WaitGroup
		errs  errorLog
		total atomic.Int64
		lats  = make([][]time.Duration, conns)
	)
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := newRequest(ep, chatBody)
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			mine := make([]time.Duration, 0, 1024)
			for {
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				err := hc.Do(req, resp)
				d := time.Since(t0)
				switch {
				case err != nil:
					errs.add("%v", err)
					if errors.Is(err, fasthttp.ErrNoFreeConns) || isConnErr(err) {
						time.Sleep(10 * time.Millisecond) // do not spin on a dead endpoint
					}
					continue
				case resp.StatusCode() != fasthttp.StatusOK:
					errs.add("status %d: %.200s", resp.StatusCode(), resp.Body())
					continue
				case len(resp.Body()) == 0:
					errs.add("empty body")
					continue
				}
				total.Add(1)
				if !t0.Before(measureFrom) {
					mine = append(mine, d)
				}
			}
			lats[w] = mine
		}()
	}
	time.Sleep(time.Until(measureFrom))
	r0 := m.read()
	time.Sleep(time.Until(end))
	r1 := m.read()
	wg.Wait()

	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	p := Phase{
		Conns:        conns,
		Requests:     len(all),
		Total:        int(total.Load()),
		Errors:       int(errs.n.Load()),
		ErrorSamples: errs.samples,
		Seconds:      dur.Seconds(),
		RPS:          float64(len(all)) / dur.Seconds(),
		Latency:      summarize(all),
		CPU:          cpuBetween(r0, r1),
		lat:          all,
	}
	if m.pid > 0 && p.Requests > 0 {
		p.ProxyCPUPerReq = float64(p.CPU.ProxyTotal.Microseconds()) / float64(p.Requests)
	}
	return p
}

// isConnErr reports errors that mean the endpoint is not there at all.
func isConnErr(err error) bool {
	var d *fasthttp.ErrDialWithUpstream
	return errors.As(err, &d) || errors.Is(err, fasthttp.ErrConnectionClosed)
}

// mergePhases joins two measured windows of the same load (A-B-A designs).
func mergePhases(a, b Phase) Phase {
	w1, w2 := a.Seconds, b.Seconds
	out := Phase{
		Conns:    a.Conns,
		Requests: a.Requests + b.Requests,
		Total:    a.Total + b.Total,
		Errors:   a.Errors + b.Errors,
		Seconds:  w1 + w2,
		CPU:      a.CPU.add(b.CPU, w1, w2),
	}
	out.ErrorSamples = append(append([]string(nil), a.ErrorSamples...), b.ErrorSamples...)
	out.RPS = float64(out.Requests) / out.Seconds
	out.lat = append(append([]time.Duration(nil), a.lat...), b.lat...)
	out.Latency = summarize(out.lat)
	if out.Requests > 0 && out.CPU.ProxyTotal > 0 {
		out.ProxyCPUPerReq = float64(out.CPU.ProxyTotal.Microseconds()) / float64(out.Requests)
	}
	return out
}
