package upstream

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/llm-proxy/llm-proxy/routing"
	"github.com/llm-proxy/llm-proxy/translate"
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
	// TranslateMaxTokens is max_tokens towards an Anthropic target when a
	// translated OpenAI client sent none (TRANSLATE_MAX_TOKENS); 0: the default.
	TranslateMaxTokens int
}

// Relay runs the attempt loop over a set of targets.
type Relay struct {
	targets *Targets
	opts    Options
	// routed is the loaded routing file with its targets; nil without one.
	routed atomic.Pointer[routedTargets]
	// models caches GET /v1/models with a routing file.
	models modelsCache
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
	// BodyChecked says Body passed gjson.Valid (the handler's body peek):
	// the request translators skip their own check.
	BodyChecked bool
	// firstByteTimeout overrides the timeout of an attempt (a model's
	// first_byte_timeout); 0: the relay's.
	firstByteTimeout time.Duration
	// translate is the current step's translation (routing file): the key
	// goes in the target API's header style.
	translate translate.Direction
	// clientBody is the client's body when Body is its translation, and
	// translatedFor the target options Body was made with: a target with
	// other options gets its own translation.
	clientBody    []byte
	translatedFor targetOptions
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
	// Unreachable: the last attempt got no answer at all (or one that broke
	// after the request was sent to a route that is not re-sent, see resendable).
	Unreachable
	// TimedOut: an upstream did not answer in time; not retried.
	TimedOut
	// ClientGone: the request was cancelled (its client left) before an answer.
	ClientGone
	// NotServed (routing file): no target serves the requested model; nothing was sent.
	NotServed
	// NoUsableKey (routing file): every eligible target's key is disabled.
	NoUsableKey
	// Refused (routing file, translated): the request has a field the
	// target's API cannot honour (Result.Refusal); nothing was sent.
	Refused
	// Estimated (routing file): count_tokens for a model only OpenAI
	// targets serve, answered locally (Result.Estimate); nothing was sent.
	Estimated
)

// Attempt is one try against one target.
type Attempt struct {
	Target *Target
	Status int
	Reason Reason
	// Cause names why no answer came ("" when one came, or for client_gone).
	Cause Cause
	// Model is the model the attempt asked for (routing file only; "" without).
	Model    string
	Duration time.Duration
	// Translate is the attempt's translation (None: the client's own API).
	Translate translate.Direction
}

// Result is the outcome of Do. Call Release when done with it.
type Result struct {
	Outcome  Outcome
	Attempts []Attempt
	// RateLimits counts attempts classified as rate limited.
	RateLimits int
	// Target served the answer (Answered only).
	Target *Target
	// Resp is the answer (Answered only). For a complete answer (Body nil)
	// its body is complete; otherwise read the rest from Body after Prefix.
	Resp   *fasthttp.Response
	Prefix []byte
	// Body continues the answer after Prefix; nil for a complete answer. It
	// is an SSE stream when SSE is set, otherwise a 2xx answer too large to
	// hold (see ClientOptions.BufferLimit).
	Body *StreamBody
	SSE  bool
	// RetryAfter (AllRateLimited only) is the wait until the soonest target
	// recovers, when a target announced it; 0 when unknown.
	RetryAfter time.Duration
	// Requested is the model as the client asked for it, ServedModel the one
	// the last attempt asked for (after alias and fallback), and Fallbacks
	// how many times the request moved to a fallback model. Routing file only.
	Requested, ServedModel string
	Fallbacks              int
	// Translate is how the answer in Resp must be translated for the client
	// (None: relayed as it came).
	Translate translate.Direction
	// Refusal (Refused only) is why the request could not be translated.
	Refusal *translate.Error
	// Estimate (Estimated only) is the count_tokens answer, in Anthropic's shape.
	Estimate []byte

	// attempts backs Attempts for the default MAX_RETRIES (3: four
	// attempts), so a Result is one allocation; more attempts grow Attempts
	// onto the heap as usual.
	attempts [4]Attempt
}

// newResult returns a Result with room for maxRetries+1 attempts.
func newResult(maxRetries int) *Result {
	res := &Result{}
	res.Attempts = res.attempts[:0]
	if n := maxRetries + 1; n > len(res.attempts) {
		res.Attempts = make([]Attempt, 0, n)
	}
	return res
}

// Release closes the upstream stream, if any, and frees the response.
// A stream not read to its end closes its connection instead of pooling it.
func (r *Result) Release() {
	if r.Resp != nil {
		if r.Body != nil {
			r.Body.release(r.Resp)
			r.Body = nil
		}
		fasthttp.ReleaseResponse(r.Resp)
		r.Resp = nil
	}
}

// tried is what one attempt gave.
type tried struct {
	reason Reason
	cause  Cause
	// sent: the request reached the upstream, which may have acted on it.
	sent   bool
	resp   *fasthttp.Response // nil when no answer arrived
	prefix []byte
	body   *StreamBody
	sse    bool
}

// Do sends req to the targets in rotation until one gives an answer that is
// not retried, or the attempts run out.
func (rl *Relay) Do(req *Request) *Result {
	if rs := rl.routed.Load(); rs != nil {
		return rl.doRouted(rs, req)
	}
	res := newResult(rl.opts.MaxRetries)
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
		a := rl.attempt(t, req)
		status := 0
		if a.resp != nil {
			status = a.resp.StatusCode()
			if a.reason != ReasonOK {
				redactKey(a.resp, t) // an error answer may be relayed: never with our key in it
			}
		}
		res.Attempts = append(res.Attempts, Attempt{Target: t, Status: status, Reason: a.reason, Cause: a.cause, Duration: time.Since(start)})
		if a.reason == ReasonRateLimit {
			res.RateLimits++
		}
		if a.reason != ReasonOK && a.reason != ReasonClientGone {
			what := string(a.reason)
			if status != 0 {
				what += " " + strconv.Itoa(status)
			}
			if a.cause != "" {
				what += " (" + string(a.cause) + ")"
			}
			t.noteError(start, what)
		}
		if a.reason == ReasonConnectError && a.sent && !resendable(req) {
			// The upstream may have acted on this request: never sent twice.
			res.Outcome = Unreachable
			return res
		}
		if !a.reason.Retryable() {
			switch a.reason {
			case ReasonTimeout:
				res.Outcome = TimedOut
			case ReasonClientGone:
				res.Outcome = ClientGone
			default:
				res.Outcome, res.Target, res.Resp, res.Prefix, res.Body, res.SSE = Answered, t, a.resp, a.prefix, a.body, a.sse
			}
			return res
		}
		if last != nil {
			fasthttp.ReleaseResponse(last)
		}
		last = a.resp
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

// resendableRoutes are the generation endpoints: a request to one that
// broke after it was sent is tried again (at worst a generation is paid
// twice). Other routes (files, batches, uploads, fine-tuning, assistants,
// threads, vector stores, …) may have acted on it, so they are re-sent only
// when nothing of them was sent, or when the method is idempotent.
var resendableRoutes = []string{"/chat/completions", "/messages", "/messages/count_tokens", "/responses", "/completions", "/embeddings"}

// resendable reports whether a request that reached the upstream without an
// answer may be sent again (to another target).
func resendable(in *Request) bool {
	switch string(in.Method) {
	case "GET", "HEAD", "OPTIONS":
		return true
	}
	for _, r := range resendableRoutes {
		if string(in.Path) == r {
			return true
		}
	}
	return false
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

// attempt makes one try. A retryable answer has a complete body (relayed if
// the retries run out). An OK stream comes with its first event in prefix
// and the rest in body; so does a 2xx answer too large to hold.
func (rl *Relay) attempt(t *Target, in *Request) tried {
	out := fasthttp.AcquireRequest()
	rl.build(out, t, in)
	resp := fasthttp.AcquireResponse()
	timeout := rl.opts.ResponseTimeout
	if in.Stream {
		timeout = rl.opts.StreamFirstByteTimeout
	}
	if in.firstByteTimeout > 0 {
		timeout = in.firstByteTimeout
	}
	body, err := t.conns.roundTrip(out, resp, time.Now().Add(timeout), in.Cancel)
	fasthttp.ReleaseRequest(out)
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		return failure(err, in.Cancel)
	}
	status := resp.StatusCode()
	ok := status >= 200 && status < 300
	if body == nil {
		// No body at all (HEAD, 204, 304).
		a := tried{reason: rl.opts.Classifier.Status(status, nil), resp: resp}
		rl.coolOnRetryAfter(t, resp, a.reason)
		return a
	}
	if !ok || !bytes.HasPrefix(resp.Header.ContentType(), []byte("text/event-stream")) {
		// An error answer (read whole, up to a bound, to classify and redact
		// it), or a plain answer: whole when small, else relayed as a stream.
		limit := t.bufferLimit
		if !ok {
			limit = errorBodyLimit
		}
		bp := scratchBufs.Get().(*[]byte)
		prefix, complete, err := readUpTo(body, limit, (*bp)[:0])
		if err != nil {
			body.release(resp)
			fasthttp.ReleaseResponse(resp)
			putScratch(bp, prefix)
			return failure(err, in.Cancel)
		}
		if !complete && ok {
			// prefix goes with the answer; bp is not returned to the pool.
			if !in.Cancel.unbind() {
				body.release(resp)
				fasthttp.ReleaseResponse(resp)
				return tried{reason: ReasonClientGone}
			}
			return tried{reason: ReasonOK, resp: resp, prefix: prefix, body: body}
		}
		// complete, or an error answer cut at errorBodyLimit (closed, never pooled).
		if !complete {
			prefix = prefix[:limit]
		}
		body.release(resp)
		if !in.Cancel.unbind() {
			fasthttp.ReleaseResponse(resp)
			putScratch(bp, prefix)
			return tried{reason: ReasonClientGone}
		}
		resp.SetBody(prefix) // a copy into fasthttp's pooled body buffer
		putScratch(bp, prefix)
		a := tried{reason: rl.opts.Classifier.Status(status, resp.Body()), resp: resp}
		rl.coolOnRetryAfter(t, resp, a.reason)
		return a
	}
	// A 2xx event stream: hold back its first event and look at it. The
	// cancel stays bound: a client that leaves now closes the connection.
	prefix, event, err := probe(body)
	if err != nil {
		// Nothing reached the client yet, so a broken start is retried like a
		// connection failure (or ends the request as a timeout).
		body.release(resp)
		fasthttp.ReleaseResponse(resp)
		return failure(err, in.Cancel)
	}
	if !in.Cancel.unbind() {
		body.release(resp)
		fasthttp.ReleaseResponse(resp)
		return tried{reason: ReasonClientGone}
	}
	if event != nil {
		if reason := rl.opts.Classifier.FirstEvent(event); reason != ReasonOK {
			// Keep the error event as the body, so it can be relayed if the retries run out.
			body.release(resp) // not read to its end: closed, never pooled
			resp.SetBodyRaw(prefix)
			rl.coolOnRetryAfter(t, resp, reason)
			return tried{reason: reason, resp: resp}
		}
	}
	// Committed from here on: the stream may outlive the first-byte deadline;
	// the relay's watch (StreamBody.Watch) ends a stalled one.
	_ = body.l.c.SetReadDeadline(time.Time{})
	return tried{reason: ReasonOK, resp: resp, prefix: prefix, body: body, sse: true}
}

// failure classifies an attempt that ended without an answer.
func failure(err error, cancel *Canceler) tried {
	if errors.Is(err, errCancelled) || cancel.Cancelled() {
		return tried{reason: ReasonClientGone}
	}
	var ce *CauseError
	if !errors.As(err, &ce) {
		ce = &CauseError{Cause: CauseReset, Err: err, Written: true}
	}
	a := tried{reason: ReasonConnectError, cause: ce.Cause, sent: ce.Written}
	if ce.Cause == CauseTimeout && ce.Written {
		// The upstream has the request and did not answer in time: not retried.
		a.reason = ReasonTimeout
	}
	return a
}

// scratchBufs hold complete answers while they are read (then copied into
// the response's pooled body buffer), so reading one allocates nothing.
var scratchBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// putScratch returns a scratch buffer (grown to buf) to its pool; buffers
// over 1 MiB are left to the collector.
func putScratch(bp *[]byte, buf []byte) {
	if cap(buf) > 1<<20+1 {
		return
	}
	*bp = buf[:0]
	scratchBufs.Put(bp)
}

// readUpTo appends body to buf until its end or until more than limit bytes
// came. complete reports the end was reached; then prefix is the whole body.
// Otherwise prefix holds limit+1 bytes read so far. On error, prefix is buf
// as far as it was filled.
func readUpTo(body *StreamBody, limit int, buf []byte) (prefix []byte, complete bool, err error) {
	size := 4 << 10
	if cl := body.ContentLength(); cl >= 0 {
		size = min(cl, limit) + 1
	}
	if cap(buf) < size {
		buf = make([]byte, 0, size)
	}
	for {
		if len(buf) == cap(buf) {
			if len(buf) > limit {
				return buf, false, nil
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, rerr := body.Read(buf[len(buf):min(cap(buf), limit+1)])
		buf = buf[:len(buf)+n]
		if rerr == io.EOF {
			return buf, true, nil
		}
		if rerr != nil {
			return buf, false, rerr
		}
		if len(buf) > limit {
			return buf, false, nil
		}
	}
}

// errorBodyLimit bounds how much of an error answer is read; a longer one
// is cut there (its connection closed).
const errorBodyLimit = 1 << 20

// redactKey removes the target's key, raw or escaped, from an error answer's
// body before it can be relayed: some upstreams echo the key they were sent
// in their error text ("Incorrect API key provided: sk-…").
func redactKey(resp *fasthttp.Response, t *Target) {
	if t.key == "" || resp.IsBodyStream() {
		return
	}
	if body := resp.Body(); t.redaction.contains(body) {
		resp.SetBodyRaw(t.redaction.redactAll(body))
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
