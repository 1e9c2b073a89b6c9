// Command floors is the shared rig's floor relay (shared/bench/floor: client
// key check, upstream key swap, one fasthttp HostClient, nothing else) with two
// knobs, so docs/bench/limits.sh can measure what the rig's figures can reach
// on this stack at all:
//
//   - WORK_US=N adds N µs of pure CPU work per request (a dependent
//     multiply-add chain, calibrated at start; no allocation, no syscall),
//     standing in for whatever a real relay does per request beyond the
//     floor (routing, a log line, a stored record, metrics, usage counts);
//
//   - STREAM=1 relays the upstream's answer as it arrives
//     (HostClient.StreamResponseBody and SetBodyStream: one client write per
//     upstream read), the floor for the rig's stream load, which the rig's
//     floor does not serve.
//
//     ADDR=127.0.0.1:28097 UP=127.0.0.1:28090 WORK_US=5 STREAM=1 floors
//
// It is a measuring instrument, not part of the relay: no retry, no timeout,
// no error shape.
package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// spin runs n steps of a dependent 64-bit multiply-add chain.
func spin(seed uint64, n int) uint64 {
	x := seed
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

// stepsPerMicrosecond times the work loop for about 50 ms.
func stepsPerMicrosecond() int {
	const n = 20_000_000
	start := time.Now()
	runtime.KeepAlive(spin(1, n)) // the loop's result is used: it cannot be left out
	return max(1, int(n/max(1, time.Since(start).Microseconds())))
}

// streamBody hands the upstream's streamed body to the server's chunked
// writer and releases the upstream response when the server is done with it.
type streamBody struct{ resp *fasthttp.Response }

func (b *streamBody) Read(p []byte) (int, error) { return b.resp.BodyStream().Read(p) }

func (b *streamBody) Close() error {
	err := b.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(b.resp)
	return err
}

func main() {
	workUS, _ := strconv.Atoi(os.Getenv("WORK_US"))
	stream := os.Getenv("STREAM") == "1"
	steps := 0
	if workUS > 0 {
		steps = workUS * stepsPerMicrosecond()
	}
	fmt.Fprintf(os.Stderr, "floors: work %d µs (%d steps), stream %v\n", workUS, steps, stream)

	up := &fasthttp.HostClient{Addr: os.Getenv("UP"), MaxConns: 4096, StreamResponseBody: stream}
	if err := fasthttp.ListenAndServe(os.Getenv("ADDR"), handler(up, steps, stream)); err != nil {
		fmt.Fprintln(os.Stderr, "floors:", err)
		os.Exit(1)
	}
}

// handler is the floor's handler, with steps of work per request and, when
// stream is set (up must then have StreamResponseBody), the answer relayed
// as it arrives.
func handler(up *fasthttp.HostClient, steps int, stream bool) fasthttp.RequestHandler {
	key := []byte("Bearer client-key")
	return func(ctx *fasthttp.RequestCtx) {
		if !bytes.Equal(ctx.Request.Header.Peek("Authorization"), key) {
			ctx.SetStatusCode(fasthttp.StatusUnauthorized)
			return
		}
		if steps > 0 {
			runtime.KeepAlive(spin(ctx.ID(), steps))
		}
		req := &ctx.Request
		req.Header.Set("Authorization", "Bearer upstream-key")
		req.SetHost(up.Addr)
		if !stream {
			if err := up.Do(req, &ctx.Response); err != nil {
				ctx.SetStatusCode(fasthttp.StatusBadGateway)
			}
			return
		}
		resp := fasthttp.AcquireResponse()
		if err := up.Do(req, resp); err != nil {
			fasthttp.ReleaseResponse(resp)
			ctx.SetStatusCode(fasthttp.StatusBadGateway)
			return
		}
		ctx.SetStatusCode(resp.StatusCode())
		ctx.Response.Header.SetContentTypeBytes(resp.Header.ContentType())
		if resp.BodyStream() == nil {
			ctx.SetBody(resp.Body())
			fasthttp.ReleaseResponse(resp)
			return
		}
		ctx.Response.SetBodyStream(&streamBody{resp: resp}, -1)
	}
}
