package upstream

import (
	"context"
	"io"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/llm-proxy/llm-proxy/routing"
)

// keyCheckTimeout bounds one background key check.
const keyCheckTimeout = 15 * time.Second

// RunKeyChecks re-checks disabled keys in the background until ctx ends:
// every tick it asks the routing which checks are due (each disabled key
// every HEALTH_CHECK_INTERVAL) and sends each a cheap authenticated
// GET {base}/models; a 2xx enables the key again.
func (rl *Relay) RunKeyChecks(ctx context.Context, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			rl.CheckKeys(now)
		}
	}
}

// CheckKeys runs the due key checks once, one after the other.
func (rl *Relay) CheckKeys(now time.Time) {
	rs := rl.routed.Load()
	if rs == nil {
		return
	}
	for _, rt := range rs.r.DueChecks(now) {
		ok := checkKey(rs.targets[rt.Index], rt)
		rs.r.CheckResult(rt, ok, time.Now())
	}
}

// checkKey sends GET {base}/models with the key in the target API's own
// style (auth: overrides) and reports whether the answer was 2xx.
func checkKey(t *Target, rt *routing.Target) bool {
	status, _ := getModels(t, rt, 4<<20)
	return status >= 200 && status < 300
}

// getModels sends GET {base}/models with the key in the target API's own
// style (auth: overrides) and returns the status and up to limit bytes of
// the body; status 0 when no answer came.
func getModels(t *Target, rt *routing.Target, limit int64) (int, []byte) {
	out := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(out)
	defer fasthttp.ReleaseResponse(resp)
	out.Header.SetMethod(fasthttp.MethodGet)
	u := out.URI()
	u.SetScheme(t.scheme)
	u.SetHost(t.host)
	u.SetPathBytes(appendEscapedPath(nil, t.basePath+"/models"))
	out.Header.SetHost(t.host)
	for _, h := range t.headers {
		out.Header.Set(h[0], h[1])
	}
	style := KeyBearer
	if rt.API == routing.APIAnthropic {
		style = KeyXAPIKey
		out.Header.Set("anthropic-version", AnthropicVersion)
	}
	if t.forceStyle {
		style = t.style
	}
	if style == KeyXAPIKey {
		out.Header.Set("x-api-key", t.key)
	} else {
		out.Header.Set("Authorization", "Bearer "+t.key)
	}
	body, err := t.conns.roundTrip(out, resp, time.Now().Add(keyCheckTimeout), nil)
	if err != nil {
		return 0, nil
	}
	var b []byte
	if body != nil {
		b, _ = io.ReadAll(io.LimitReader(body, limit))
		body.release(resp)
	}
	return resp.StatusCode(), b
}
