package upstream

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/llm-proxy/llm-proxy/routing"
)

// Options configures the attempt loop.
type Options struct {
	// MaxRetries is the number of attempts after the first.
	MaxRetries int
	// MaxCooldownWait bounds the wait for a target in cooldown when every
	// target is cooling; beyond it the request is answered at once.
	MaxCooldownWait time.Duration
	// ResponseTimeout bounds a non-stream attempt: headers and whole body.
	ResponseTimeout time.Duration
	// StreamFirstByteTimeout bounds a stream attempt up to its first event.
	StreamFirstByteTimeout time.Duration
	// Classifier decides which answers are retried.
	Classifier *Classifier
}

// errorBodyLimit bounds how much of a streamed error answer is read.
const errorBodyLimit = 1 << 20

// Relay runs the attempt loop over a set of targets.
type Relay struct {
	targets *Targets
	opts    Options
	// routed is the loaded routing file with its targets; nil without one.
	routed atomic.Pointer[routedTargets]
}

// NewRelay returns a relay over targets.
func NewRelay(targets *Targets, opts Options) *Relay {
	if opts.Classifier == nil {
		opts.Classifier = NewClassifier([]int{429, 500, 502, 503, 504, 529})
	}
	return &Relay{targets: targets, opts: opts}
}

// Targets returns the relay's targets.
func (rl *Relay) Targets() *Targets { return rl.targets }

// Request is what the relay needs of an inbound request. Every slice is only
// read during Do and may alias the inbound request.
type Request struct {
	Method []byte
	// Path is the inbound path after "/v1", already normalised (no dot
	// segments), e.g. "/chat/completions"; it is appended to each target's base path.
	Path  []byte
	Query []byte
	// Header holds the inbound headers; they are copied, minus hop-by-hop
	// headers, the client's key and Accept-Encoding.
	Header   *fasthttp.RequestHeader
	Body     []byte
	KeyStyle KeyStyle
	Stream   bool
	// Cancel, when set, lets the caller abandon the request while it waits
	// (the client went away): the attempt's connection is closed at once.
	Cancel *Canceler
	// Family and Model (the body's model field; nil when absent) choose the
	// targets when a routing file is loaded; unused without one.
	Family routing.Family
	Model  []byte
	// firstByteTimeout overrides the timeout of an attempt (a model's
	// first_byte_timeout); 0: the relay's.
	firstByteTimeout time.Duration
}

// Outcome is how the attempt loop ended.
type Outcome uint8

// The outcomes of Do.
const (
	// Answered: Resp holds an answer to relay (2xx, or an error not to retry,
	// or the last error after the retries ran out).
	Answered Outcome = iota
	// AllRateLimited: every attempt was rate limited, or every target is
	// cooling down for longer than MaxCooldownWait.
	AllRateLimited
	// Unreachable: the last attempt got no answer at all.
	Unreachable
	// TimedOut: an upstream did not answer in time; not retried.
	TimedOut
	// ClientGone: the request was cancelled (its client left) before an answer.
	ClientGone
	// NotServed (routing file): no target serves the requested model; nothing was sent.
	NotServed
	// NoUsableKey (routing file): every eligible target's key is disabled.
	NoUsableKey
)

// Attempt is one try against one target.
type Attempt struct {
	Target *Target
	// Model is the model the attempt asked for (routing file only; "" without).
	Model    string
	Status   int
	Reason   Reason
	Duration time.Duration
}

// Result is the outcome of Do. Call Release when done with it.
type Result struct {
	Outcome  Outcome
	Attempts []Attempt
	// RateLimits counts attempts classified as rate limited.
	RateLimits int
	// Target served the answer (Answered only).
	Target *Target
	// Resp is the answer (Answered only). For a non-stream answer its body is
	// complete; for a stream (Body set) read the rest from Body after Prefix.
	Resp   *fasthttp.Response
	Prefix []byte
	// Body continues a stream after Prefix; nil for a complete answer.
	Body *StreamBody
	// RetryAfter (AllRateLimited only) is the wait until the soonest target
	// recovers, when a target announced it; 0 when unknown.
	RetryAfter time.Duration
	// Requested is the model as the client asked for it, ServedModel the one
	// the last attempt asked for (after alias and fallback), and Fallbacks
	// how many times the request moved to a fallback model. Routing file only.
	Requested, ServedModel string
	Fallbacks              int
}

// Release closes the upstream stream, if any, and frees the response.
// A stream not read to its end closes its connection instead of pooling it.
func (r *Result) Release() {
	if r.Resp != nil {
		if r.Body != nil {
			r.Body.release(r.Resp)
		}
		fasthttp.ReleaseResponse(r.Resp)
		r.Resp = nil
	}
}

// Do sends req to the targets in rotation until one gives an answer that is
// not retried, or the attempts run out.
func (rl *Relay) Do(req *Request) *Result {
	if rs := rl.routed.Load(); rs != nil {
		return rl.doRouted(rs, req)
	}
	res := &Result{Attempts: make([]Attempt, 0, rl.opts.MaxRetries+1)}
	rot := rl.targets.rotation()
	// last is the latest retryable answer (nil when that attempt got none):
	// relayed unchanged if the retries run out.
	var last *fasthttp.Response
	defer func() {
		if last != nil && last != res.Resp {
			fasthttp.ReleaseResponse(last)
		}
	}()
	for i := 0; i <= rl.opts.MaxRetries; i++ {
		t, wait := rot.pick(time.Now())
		if wait > 0 {
			if wait > rl.opts.MaxCooldownWait {
				break
			}
			time.Sleep(wait)
		}
		if req.Cancel.Cancelled() {
			res.Outcome = ClientGone
			return res
		}
		start := time.Now()
		reason, resp, prefix, body := rl.attempt(t, req)
		status := 0
		if resp != nil {
			status = resp.StatusCode()
			if reason != ReasonOK {
				redactKey(resp, t.key) // an error answer may be relayed: never with our key in it
			}
		}
		res.Attempts = append(res.Attempts, Attempt{Target: t, Status: status, Reason: reason, Duration: time.Since(start)})
		if reason == ReasonRateLimit {
			res.RateLimits++
		}
		if reason != ReasonOK && reason != ReasonClientGone {
			what := string(reason)
			if status != 0 {
				what += " " + strconv.Itoa(status)
			}
			t.noteError(start, what)
		}
		if !reason.Retryable() {
			switch reason {
			case ReasonTimeout:
				res.Outcome = TimedOut
			case ReasonClientGone:
				res.Outcome = ClientGone
			default:
				res.Outcome, res.Target, res.Resp, res.Prefix, res.Body = Answered, t, resp, prefix, body
			}
			return res
		}
		if last != nil {
			fasthttp.ReleaseResponse(last)
		}
		last = resp
	}
	// Out of attempts (or every target cools down for too long).
	switch {
	case res.RateLimits == len(res.Attempts):
		res.Outcome = AllRateLimited
		res.RetryAfter = rl.soonestRecovery(time.Now())
	case last != nil:
		res.Outcome, res.Resp = Answered, last
		res.Target = res.Attempts[len(res.Attempts)-1].Target
	default:
		res.Outcome = Unreachable
	}
	return res
}

// soonestRecovery is the wait until the first cooling target recovers, or 0.
func (rl *Relay) soonestRecovery(now time.Time) time.Duration {
	var best time.Duration
	for _, t := range rl.targets.targets {
		if until, ok := t.CoolingUntil(now); ok {
			if d := until.Sub(now); best == 0 || d < best {
				best = d
			}
		}
	}
	return best
}

// attempt makes one try. resp is nil when no answer arrived. A retryable
// answer has a complete body (relayed if the retries run out). An OK stream
// comes with its first event in prefix and the rest in body.
func (rl *Relay) attempt(t *Target, in *Request) (reason Reason, resp *fasthttp.Response, prefix []byte, body *StreamBody) {
	out := fasthttp.AcquireRequest()
	rl.build(out, t, in)
	resp = fasthttp.AcquireResponse()
	resp.StreamBody = in.Stream
	timeout := rl.opts.ResponseTimeout
	if in.Stream {
		timeout = rl.opts.StreamFirstByteTimeout
	}
	if in.firstByteTimeout > 0 {
		timeout = in.firstByteTimeout
	}
	pc, err := t.conns.roundTrip(out, resp, time.Now().Add(timeout), t.maxBody, in.Cancel)
	closeReq := out.ConnectionClose()
	fasthttp.ReleaseRequest(out)
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		return transportReason(err), nil, nil, nil
	}
	status := resp.StatusCode()
	isSSE := bytes.HasPrefix(resp.Header.ContentType(), []byte("text/event-stream"))
	if pc != nil {
		body = &StreamBody{rs: resp.BodyStream(), pc: pc, out: closeReq}
		if status < 200 || status >= 300 || !isSSE {
			// An error answer, or a plain answer to a stream request: read it whole.
			limit := errorBodyLimit
			if status >= 200 && status < 300 {
				limit = t.maxBody
			}
			if err := bufferBody(resp, body, limit); err != nil {
				fasthttp.ReleaseResponse(resp)
				return transportReason(err), nil, nil, nil
			}
			body = nil
		}
	}
	if body == nil {
		// A complete answer.
		reason = rl.opts.Classifier.Status(status, resp.Body())
		rl.coolOnRetryAfter(t, resp, reason)
		return reason, resp, nil, nil
	}
	// A 2xx event stream: hold back its first event and look at it.
	prefix, event, err := probe(body)
	if err != nil {
		// Nothing reached the client yet, so a broken start is retried like a
		// connection failure (or ends the request as a timeout).
		body.release(resp)
		fasthttp.ReleaseResponse(resp)
		if in.Cancel.Cancelled() {
			return ReasonClientGone, nil, nil, nil
		}
		return transportReason(err), nil, nil, nil
	}
	if event != nil {
		if reason = rl.opts.Classifier.FirstEvent(event); reason != ReasonOK {
			// Keep the error event as the body, so it can be relayed if the retries run out.
			body.release(resp) // not read to its end: closed, never pooled
			resp.SetBodyRaw(prefix)
			rl.coolOnRetryAfter(t, resp, reason)
			return reason, resp, nil, nil
		}
	}
	// Committed from here on: the stream may outlive the first-byte deadline;
	// the relay's idle timer ends a stalled one.
	_ = pc.nc.SetReadDeadline(time.Time{})
	return ReasonOK, resp, prefix, body
}

// redactedKey replaces an upstream key echoed in an error answer.
var redactedKey = []byte("[redacted]")

// redactKey removes the target's key from an error answer's body before it
// can be relayed: some upstreams echo the key they were sent in their error
// text ("Incorrect API key provided: sk-…").
func redactKey(resp *fasthttp.Response, key string) {
	if key == "" || resp.IsBodyStream() {
		return
	}
	if body := resp.Body(); bytes.Contains(body, []byte(key)) {
		resp.SetBodyRaw(bytes.ReplaceAll(body, []byte(key), redactedKey))
	}
}

func (rl *Relay) coolOnRetryAfter(t *Target, resp *fasthttp.Response, reason Reason) {
	if reason != ReasonRateLimit && reason != ReasonServerError {
		return
	}
	d, ok := ParseRetryAfter(string(resp.Header.Peek("Retry-After-Ms")), string(resp.Header.Peek("Retry-After")), time.Now())
	if ok && d > 0 {
		t.coolFor(time.Now(), d)
	}
}

// transportReason classifies an error that left no answer.
func transportReason(err error) Reason {
	var ce *ConnectError
	switch {
	case errors.Is(err, errCancelled):
		return ReasonClientGone
	case errors.As(err, &ce):
		return ReasonConnectError
	case isTimeout(err):
		return ReasonTimeout
	default:
		// Reset, closed before the first response byte, malformed answer: the
		// upstream did not answer, so nothing reached the client.
		return ReasonConnectError
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// bufferBody reads a streamed body to its end so the response holds it as a
// plain body, and settles the connection. A body over limit is an error: it
// is never cut silently.
func bufferBody(resp *fasthttp.Response, body *StreamBody, limit int) error {
	b, err := io.ReadAll(io.LimitReader(body, int64(limit)+1))
	if err == nil && len(b) > limit {
		err = fasthttp.ErrBodyTooLarge
	}
	body.release(resp)
	if err != nil {
		return err
	}
	resp.SetBodyRaw(b)
	return nil
}
