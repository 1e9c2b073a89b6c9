package handlers

import (
	"bytes"
	"log/slog"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/translate"
	"github.com/llm-proxy/llm-proxy/upstream"
)

// ProxyConfig configures the /v1 proxy handler.
type ProxyConfig struct {
	// Keys are the accepted client keys.
	Keys *Keys
	// Relay runs the attempts.
	Relay *upstream.Relay
	// Record receives one record per finished request (after the last byte
	// of a stream). It must not block. nil: records are dropped.
	Record func(*stats.Event)
	// KeepAliveInterval: a stream silent this long gets a keep-alive event.
	KeepAliveInterval time.Duration
	// StreamIdleTimeout: a stream silent this long is cut with an error event.
	StreamIdleTimeout time.Duration
	// ClientWriteTimeout bounds each write to the client (streams and complete
	// answers): a client that reads nothing for this long is dropped (499).
	// 0 means 60 s.
	ClientWriteTimeout time.Duration
	// InFlight and OpenStreams are moved by the handler; nil: not tracked.
	InFlight, OpenStreams prometheus.Gauge
	// Logger receives failures the record cannot carry (panics). nil: slog.Default().
	Logger *slog.Logger
}

// Proxy is the /v1/* handler.
type Proxy struct {
	cfg ProxyConfig
}

// NewProxy returns the handler.
func NewProxy(cfg ProxyConfig) *Proxy {
	if cfg.Record == nil {
		cfg.Record = func(*stats.Event) {}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ClientWriteTimeout <= 0 {
		cfg.ClientWriteTimeout = 60 * time.Second
	}
	if cfg.InFlight == nil {
		cfg.InFlight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "unused_in_flight"})
	}
	if cfg.OpenStreams == nil {
		cfg.OpenStreams = prometheus.NewGauge(prometheus.GaugeOpts{Name: "unused_open_streams"})
	}
	return &Proxy{cfg: cfg}
}

// clientWatchDelay is how long a request waits for the upstream before the
// proxy starts watching for its client leaving (see watchClient).
const clientWatchDelay = 100 * time.Millisecond

// jsonRoutes are the endpoints whose bodies must be JSON even when the
// client sends no Content-Type.
var jsonRoutes = []string{"/chat/completions", "/messages", "/messages/count_tokens", "/responses", "/completions", "/embeddings"}

// Handle proxies one /v1/* request.
func (p *Proxy) Handle(c *fiber.Ctx) error {
	start := time.Now()
	// Route on fasthttp's normalised, decoded path — never the raw one — so
	// "/v1/../x" and encoded dot segments cannot step outside /v1.
	path := c.Context().URI().Path()
	family := FamilyOf(path)
	// A backslash is a path separator to some servers, so "..\" could still
	// step out of the upstream's base path there; no LLM API path has one.
	// Likewise "..;" (or ".;x"): Tomcat, Jetty and Spring drop ";" path
	// parameters before they resolve dot segments.
	if !bytes.HasPrefix(path, []byte("/v1/")) || bytes.IndexByte(path, '\\') >= 0 || hasParamDotSegment(path) {
		return sendError(c, family, fiber.StatusNotFound, errNotFound, "not found")
	}
	style, ok := p.cfg.Keys.Check(&c.Request().Header)
	if !ok {
		return sendError(c, family, fiber.StatusUnauthorized, errAuth, MsgPermissionDenied)
	}
	p.cfg.InFlight.Inc()
	defer p.cfg.InFlight.Dec()

	if string(path) == "/v1/models" && c.Method() == fiber.MethodGet && p.cfg.Relay.Routing() != nil {
		return p.listModels(c, start, family)
	}
	rest := path[len("/v1"):]
	body := c.Request().Body() // raw: never decompressed, forwarded byte for byte
	ev := &stats.Event{
		Time:   start,
		Method: methodString(c.Request().Header.Method()),
		Route:  routeString(path),
		Family: family,
	}
	checked := false
	if needsJSON(c, rest, body) {
		info, ok := PeekBody(body)
		checked = ok
		if !ok {
			p.finish(ev, fiber.StatusBadRequest, stats.OutcomeBadRequest, "request body is not valid JSON")
			return sendError(c, family, fiber.StatusBadRequest, errBadRequest, "request body is not valid JSON")
		}
		ev.Model, ev.Stream = info.Model, info.Stream
	}

	cancel := &upstream.Canceler{}
	watch := watchClient(c.Context(), clientWatchDelay, cancel)
	res := p.cfg.Relay.Do(&upstream.Request{
		Method:   c.Request().Header.Method(),
		Path:     rest,
		Query:    c.Request().URI().QueryString(),
		Header:   &c.Request().Header,
		Body:     body,
		KeyStyle: style,
		Stream:   ev.Stream,
		Cancel:   cancel,
		Family:   routingFamily(family),
		Model:    modelBytes(ev.Model),

		BodyChecked: checked,
	})
	watch.stop()
	fillAttempts(ev, res)

	switch res.Outcome {
	case upstream.ClientGone:
		p.finish(ev, 499, stats.OutcomeClientGone, "client went away while waiting for the upstream")
		return nil
	case upstream.AllRateLimited:
		if res.RetryAfter > 0 {
			c.Set(fiber.HeaderRetryAfter, upstream.RetryAfterSeconds(res.RetryAfter))
		}
		p.finish(ev, fiber.StatusTooManyRequests, stats.OutcomeRateLimited, "every attempt was rate limited")
		return sendError(c, family, fiber.StatusTooManyRequests, errRateLimited, MsgAllRateLimited)
	case upstream.TimedOut:
		p.finish(ev, fiber.StatusGatewayTimeout, stats.OutcomeTimeout, "upstream did not answer in time")
		return sendError(c, family, fiber.StatusGatewayTimeout, errTimeout, "upstream did not answer in time")
	case upstream.Unreachable:
		p.finish(ev, fiber.StatusBadGateway, stats.OutcomeUnreachable, "no upstream answered"+lastCause(res))
		return sendError(c, family, fiber.StatusBadGateway, errBadGateway, "no upstream answered")
	case upstream.NotServed:
		msg := "model " + strconv.Quote(res.Requested) + " is not served by any target"
		p.finish(ev, fiber.StatusNotFound, stats.OutcomeBadRequest, msg)
		return sendError(c, family, fiber.StatusNotFound, errModelNotFound, msg)
	case upstream.NoUsableKey:
		msg := "no usable upstream key for model " + strconv.Quote(res.Requested)
		p.finish(ev, fiber.StatusServiceUnavailable, stats.OutcomeUnreachable, msg)
		return sendError(c, family, fiber.StatusServiceUnavailable, errNoUsableKey, msg)
	case upstream.Refused:
		p.finish(ev, fiber.StatusBadRequest, stats.OutcomeBadRequest, res.Refusal.Message)
		return sendRefusal(c, family, res.Refusal)
	case upstream.Estimated:
		ev.Estimated = true
		ev.InputTokens = int(gjson.GetBytes(res.Estimate, "input_tokens").Int())
		p.finish(ev, fiber.StatusOK, stats.OutcomeOK, "")
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(res.Estimate)
	}

	res.RedactAnswer() // the upstream key never reaches the client: headers, complete bodies
	resp := res.Resp
	ev.Target = res.Target.Name()
	if res.ServedModel != "" {
		c.Set(HeaderServedModel, res.ServedModel)
	}
	status := resp.StatusCode()
	c.Status(status)
	copyResponseHeaders(&c.Response().Header, &resp.Header)
	var tr translate.Stream
	if res.Translate != translate.None {
		o := translateOptions(family, body, start)
		if !res.SSE {
			return p.sendTranslated(c, ev, res, o)
		}
		tr = res.Translate.Stream(o)
	}
	if res.Body != nil { // a committed stream, or an answer too large to hold
		size := -1 // chunked
		if res.SSE {
			c.Set(fiber.HeaderCacheControl, "no-cache")
			c.Set("X-Accel-Buffering", "no")
		} else {
			size = res.Body.ContentLength()
		}
		sr := &streamRelay{
			res:          res,
			red:          res.Redactor(),
			ev:           ev,
			family:       family,
			sse:          res.SSE,
			tr:           tr,
			keepAlive:    p.cfg.KeepAliveInterval,
			idle:         p.cfg.StreamIdleTimeout,
			writeTimeout: p.cfg.ClientWriteTimeout,
			record:       p.cfg.Record,
			streams:      p.cfg.OpenStreams,
			logger:       p.cfg.Logger,
			ctx:          c.Context(),
		}
		p.cfg.OpenStreams.Inc()
		c.Context().SetBodyStream(sr, size)
		return nil
	}
	// The write deadline covers the whole (small) answer; fasthttp clears it after.
	_ = c.Context().SetWriteDeadline(time.Now().Add(p.cfg.ClientWriteTimeout))
	// A complete answer: relay it as it came.
	answer := resp.Body()
	c.Response().SetBody(answer)
	p.finishAnswer(ev, status, answer) // before Release: answer is the upstream response's buffer
	res.Release()
	return nil
}

// sendTranslated answers with a translated non-stream answer.
func (p *Proxy) sendTranslated(c *fiber.Ctx, ev *stats.Event, res *upstream.Result, o translate.Options) error {
	_ = c.Context().SetWriteDeadline(time.Now().Add(p.cfg.ClientWriteTimeout))
	status := res.Resp.StatusCode()
	answer, err := translatedAnswer(res, o)
	res.Release()
	if err != nil {
		msg := "upstream answer could not be translated: " + err.Error()
		p.finish(ev, fiber.StatusBadGateway, stats.OutcomeUpstreamError, msg)
		return sendError(c, ev.Family, fiber.StatusBadGateway, errBadGateway, msg)
	}
	c.Response().Header.Del(fiber.HeaderContentEncoding)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Response().SetBody(answer)
	p.finishAnswer(ev, status, answer)
	return nil
}

// finishAnswer completes the record of a complete answer relayed to the
// client: its usage when it succeeded, else the upstream's status as the error.
func (p *Proxy) finishAnswer(ev *stats.Event, status int, answer []byte) {
	if status < 200 || status >= 300 {
		p.finish(ev, status, stats.OutcomeUpstreamError, "upstream answered "+statusText(status))
		return
	}
	u := upstream.UsageFromJSON(answer)
	ev.InputTokens, ev.OutputTokens = u.Input, u.Output
	p.finish(ev, status, stats.OutcomeOK, "")
}

// commonRoutes are the routes nearly every request takes, kept as strings so
// that a record takes its route without converting (and allocating) it.
var commonRoutes = func() map[string]string {
	m := map[string]string{"/v1/models": "/v1/models"}
	for _, r := range jsonRoutes {
		m["/v1"+r] = "/v1" + r
	}
	return m
}()

// routeString is path as a string, without allocating for a common route.
func routeString(path []byte) string {
	if r, ok := commonRoutes[string(path)]; ok { // no conversion: the compiler looks up the bytes
		return r
	}
	return string(path)
}

// methodString is the method as a string, without allocating for the usual ones.
func methodString(m []byte) string {
	switch string(m) {
	case fiber.MethodPost:
		return fiber.MethodPost
	case fiber.MethodGet:
		return fiber.MethodGet
	}
	return string(m)
}

// hasParamDotSegment reports whether a path segment is "." or ".." once its
// ";" parameters are cut off ("/..;/", "/.;jsessionid=x/"): a server that
// strips path parameters reads it as a dot segment and steps up.
func hasParamDotSegment(path []byte) bool {
	if bytes.IndexByte(path, ';') < 0 {
		return false // the usual case: no allocation, one scan
	}
	for seg := range bytes.SplitSeq(path, []byte("/")) {
		if i := bytes.IndexByte(seg, ';'); i >= 0 {
			if name := seg[:i]; string(name) == "." || string(name) == ".." {
				return true
			}
		}
	}
	return false
}

// needsJSON reports whether the body must be valid JSON: a request with a
// JSON content type, or a body sent without one to an endpoint that only takes JSON.
func needsJSON(c *fiber.Ctx, rest, body []byte) bool {
	if len(c.Request().Header.Peek(fiber.HeaderContentEncoding)) > 0 {
		return false // compressed: opaque, forwarded as it is
	}
	if ct := c.Request().Header.ContentType(); len(ct) > 0 {
		return containsFold(ct, "json")
	}
	if len(body) == 0 {
		return false
	}
	for _, r := range jsonRoutes {
		if string(rest) == r {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains the lower-case ASCII word, ignoring case.
func containsFold(s []byte, word string) bool {
	for i := 0; i+len(word) <= len(s); i++ {
		if bytes.EqualFold(s[i:i+len(word)], []byte(word)) {
			return true
		}
	}
	return false
}

// finish completes the record of a request answered in the handler.
func (p *Proxy) finish(ev *stats.Event, status int, outcome stats.Outcome, errText string) {
	ev.Status, ev.Outcome, ev.Error = status, outcome, errText
	ev.LatencyMs = ms(time.Since(ev.Time))
	ev.TTFBMs = ev.LatencyMs
	p.cfg.Record(ev)
}

func fillAttempts(ev *stats.Event, res *upstream.Result) {
	ev.Attempts = make([]stats.Attempt, len(res.Attempts))
	for i, a := range res.Attempts {
		ev.Attempts[i] = stats.Attempt{Target: a.Target.Name(), Status: a.Status, Reason: string(a.Reason), Cause: string(a.Cause), DurationMs: ms(a.Duration), Model: a.Model}
		if a.Translate != translate.None {
			ev.Attempts[i].Translated, ev.Attempts[i].Translation = true, a.Translate.String()
		}
	}
	ev.RateLimits = res.RateLimits
	ev.ServedModel, ev.Fallbacks = res.ServedModel, res.Fallbacks
}

// lastCause names the last attempt's connection failure for the record and
// the log, e.g. " (refused)"; empty when there is none.
func lastCause(res *upstream.Result) string {
	if n := len(res.Attempts); n > 0 && res.Attempts[n-1].Cause != "" {
		return " (" + string(res.Attempts[n-1].Cause) + ")"
	}
	return ""
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func statusText(status int) string {
	return strconv.Itoa(status) + " " + fasthttp.StatusMessage(status)
}

// skippedResponseHeaders are not relayed to the client: hop-by-hop headers,
// the ones fasthttp computes for the outgoing answer, and Set-Cookie (an
// upstream's cookie would land on the proxy's own site, the dashboard's).
var skippedResponseHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true, "Proxy-Connection": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Content-Length": true, "Date": true, "Server": true, "Set-Cookie": true,
}

func copyResponseHeaders(dst *fasthttp.ResponseHeader, src *fasthttp.ResponseHeader) {
	dst.SetContentTypeBytes(src.ContentType())
	// Headers the upstream names in Connection are hop-by-hop too (RFC 9110
	// 7.6.1). fasthttp keeps Connection apart from the others: read it there.
	var named [][]byte
	if conn := src.Peek(fasthttp.HeaderConnection); len(conn) > 0 {
		for name := range bytes.SplitSeq(conn, []byte(",")) {
			if name = bytes.TrimSpace(name); len(name) > 0 {
				named = append(named, name)
			}
		}
	}
	for k, v := range src.All() {
		if bytes.EqualFold(k, []byte(fasthttp.HeaderContentType)) || skippedResponseHeaders[string(k)] || namedIn(named, k) {
			continue
		}
		dst.AddBytesKV(k, v)
	}
}

// namedIn reports whether header name k is in names, ignoring case.
func namedIn(names [][]byte, k []byte) bool {
	for _, n := range names {
		if bytes.EqualFold(n, k) {
			return true
		}
	}
	return false
}
