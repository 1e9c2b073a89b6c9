package upstream

import (
	"strconv"
	"time"

	"github.com/tidwall/sjson"
	"github.com/valyala/fasthttp"

	"github.com/llm-proxy/llm-proxy/routing"
	"github.com/llm-proxy/llm-proxy/translate"
)

// routedTargets is a loaded routing with one upstream target (connection
// pool) per routing target, by index. A reload swaps the whole value.
type routedTargets struct {
	r       *routing.Routing
	targets []*Target
}

// ReasonKeyUnusable is an attempt whose answer said the key itself is
// unusable (routing file only): the target was disabled and the request
// moved on without counting it against MAX_RETRIES.
const ReasonKeyUnusable Reason = "key_unusable"

// SetRouting makes the relay choose targets with r (a routing file), or
// with its own targets again when r is nil. Connection pools of targets
// whose ID (name, URL and key) is unchanged are kept; requests in flight
// finish on the targets they have, and the dropped pools close their idle
// connections after grace.
func (rl *Relay) SetRouting(r *routing.Routing, o ClientOptions, grace time.Duration) {
	old := rl.routed.Load()
	if r == nil {
		rl.routed.Store(nil)
		if old != nil {
			closeLater(old.targets, nil, grace)
		}
		return
	}
	byID := map[string]*Target{}
	if old != nil {
		for i, t := range old.r.Targets() {
			byID[t.ID] = old.targets[i]
		}
	}
	next := &routedTargets{r: r, targets: make([]*Target, len(r.Targets()))}
	kept := map[*Target]bool{}
	for i, t := range r.Targets() {
		if ut := byID[t.ID]; ut != nil && sameSpec(ut, t) {
			next.targets[i] = ut
			kept[ut] = true
			continue
		}
		next.targets[i] = newTarget(specOf(t), o)
	}
	rl.routed.Store(next)
	if old != nil {
		closeLater(old.targets, kept, grace)
	}
}

// Routing returns the loaded routing, nil without a routing file.
func (rl *Relay) Routing() *routing.Routing {
	if rs := rl.routed.Load(); rs != nil {
		return rs.r
	}
	return nil
}

func specOf(t *routing.Target) Spec {
	s := Spec{Name: t.Name, URL: t.URL, Key: t.Key, Headers: t.Headers}
	switch t.Auth {
	case routing.AuthBearer:
		s.ForceStyle, s.Style = true, KeyBearer
	case routing.AuthXAPIKey:
		s.ForceStyle, s.Style = true, KeyXAPIKey
	}
	return s
}

// sameSpec reports whether ut was built for what t describes (headers and
// auth may change while the name, URL and key stay).
func sameSpec(ut *Target, t *routing.Target) bool {
	s := specOf(t)
	if ut.forceStyle != s.ForceStyle || ut.style != s.Style || len(ut.headers) != len(s.Headers) {
		return false
	}
	for i := range s.Headers {
		if ut.headers[i] != s.Headers[i] {
			return false
		}
	}
	return true
}

// closeLater closes the idle connections of the targets not kept, after
// grace (in-flight exchanges close their own connections when they end).
func closeLater(ts []*Target, kept map[*Target]bool, grace time.Duration) {
	var drop []*Target
	for _, t := range ts {
		if !kept[t] {
			drop = append(drop, t)
		}
	}
	if len(drop) == 0 {
		return
	}
	time.AfterFunc(grace, func() {
		for _, t := range drop {
			t.conns.close()
		}
	})
}

// doRouted is the attempt loop with a routing file: the request's model
// (after alias) chooses the eligible targets; each model of its fallback
// chain gets a fresh budget of MaxRetries+1 attempts; an answer that says
// the key is unusable disables the target and moves on without using the
// budget; cooldowns are per (target, model).
func (rl *Relay) doRouted(rs *routedTargets, req *Request) *Result {
	r := rs.r
	res := newResult(rl.opts.MaxRetries)
	plan, ok := r.Plan(req.Family, req.Model)
	if !ok {
		res.Outcome = NotServed
		res.Requested = string(req.Model)
		return res
	}
	res.Requested = plan.Requested
	in := *req
	for {
		step := plan.Step()
		in.Body, in.Path, in.Query, in.translate = req.Body, req.Path, req.Query, stepDirection(step, req.Family)
		if in.translate != translate.None {
			if rl.translateStep(step, req, &in, res) {
				return res
			}
		} else if m, rewrite := plan.Rewrite(); rewrite {
			// Only the model field changes; every other byte stays as the client sent it.
			if b, err := sjson.SetBytes(req.Body, "model", m); err == nil {
				in.Body = b
			}
		}
		in.firstByteTimeout = step.FirstByteTimeout
		res.ServedModel = step.Model
		kind, done := rl.runModel(rs, &plan, step, &in, res)
		if done {
			return res
		}
		if !plan.Next(kind) {
			rl.finish(rs, step, res, kind)
			return res
		}
		res.Fallbacks++
		res.releaseLast()
	}
}

// stepDirection is the translation the attempts of step need for a client
// of family fam: none, or from the client's API to the other one.
func stepDirection(step *routing.Step, fam routing.Family) translate.Direction {
	switch {
	case !step.Translated:
		return translate.None
	case fam == routing.FamilyOpenAI:
		return translate.OpenAIToAnthropic
	default:
		return translate.AnthropicToOpenAI
	}
}

// translateStep makes in the request of a translated step: body and path in
// the target's API. done means res is final: a refusal (nothing sent), a
// count_tokens answered locally, or a route that is never translated.
func (rl *Relay) translateStep(step *routing.Step, req *Request, in *Request, res *Result) (done bool) {
	d := in.translate
	path, ok := d.Path("/v1" + string(req.Path))
	if !ok {
		res.releaseLast()
		if d == translate.AnthropicToOpenAI && string(req.Path) == "/messages/count_tokens" && string(req.Method) == "POST" {
			if b, err := translate.CountTokens(req.Body); err == nil {
				res.Outcome, res.Estimate, res.Translate = Estimated, b, d
				return true
			}
			res.Outcome, res.Refusal = Refused, &translate.Error{Status: 400, Message: "request body is not valid JSON"}
			return true
		}
		res.Outcome = NotServed // other routes are never translated
		return true
	}
	if len(req.Header.Peek("Content-Encoding")) > 0 {
		res.releaseLast()
		res.Outcome, res.Refusal = Refused, &translate.Error{Status: 400, Field: "Content-Encoding", Message: "Content-Encoding: a compressed body cannot be translated to the target's API"}
		return true
	}
	// With the default target options; runModel translates again for a
	// target that has others (the options change no refusal).
	body, err := d.Request(nil, req.Body, rl.translateOptions(step, req, targetOptions{}))
	if err != nil {
		te, ok := err.(*translate.Error)
		if !ok {
			te = &translate.Error{Status: 400, Message: err.Error()}
		}
		res.releaseLast()
		res.Outcome, res.Refusal = Refused, te
		return true
	}
	// The query (Claude Code's ?beta=true) belongs to the client's API: not carried over.
	in.Body, in.Path, in.Query = body, []byte(path[len("/v1"):]), nil
	in.clientBody, in.translatedFor = req.Body, targetOptions{}
	return false
}

// targetOptions are a routing target's translation settings (for an
// Anthropic client in front of an OpenAI target).
type targetOptions struct {
	reasoning, completionTokens bool
	maxOutput                   int
}

func optionsOf(rt *routing.Target, d translate.Direction) targetOptions {
	if d != translate.AnthropicToOpenAI {
		return targetOptions{}
	}
	return targetOptions{reasoning: rt.ReasoningEffort, completionTokens: rt.MaxCompletionTokens, maxOutput: rt.MaxOutputTokens}
}

// translateOptions are the translation options of a step's request for a
// target with options to.
func (rl *Relay) translateOptions(step *routing.Step, req *Request, to targetOptions) translate.Options {
	return translate.Options{Model: step.Model, MaxTokens: rl.opts.TranslateMaxTokens, Checked: req.BodyChecked,
		Reasoning: to.reasoning, MaxCompletionTokens: to.completionTokens, MaxOutputTokens: to.maxOutput}
}

// translateFor makes in.Body the translation for target rt when rt's
// options differ from those it was made with. The options change no
// refusal, so the translation that passed with the defaults passes here.
func (rl *Relay) translateFor(step *routing.Step, in *Request, rt *routing.Target) {
	to := optionsOf(rt, in.translate)
	if in.translate == translate.None || to == in.translatedFor {
		return
	}
	if body, err := in.translate.Request(nil, in.clientBody, rl.translateOptions(step, in, to)); err == nil {
		in.Body, in.translatedFor = body, to
	}
}

// runModel makes the attempts of one model. done means res is final (an
// answer, a timeout, a client gone); otherwise kind says how the model's
// attempts ended and res.Resp may hold the last retryable answer.
func (rl *Relay) runModel(rs *routedTargets, plan *routing.Plan, step *routing.Step, in *Request, res *Result) (kind routing.Kind, done bool) {
	r := rs.r
	pick := r.Picker(step)
	attempts, rateLimits, answered, cooledOut := 0, 0, false, false
	var lastReason Reason
	// Key-unusable answers do not use the budget; each disables a target,
	// so this bound (every target once more) is never reached in practice.
	for guard := 0; attempts <= rl.opts.MaxRetries && guard <= rl.opts.MaxRetries+len(rs.targets); guard++ {
		now := time.Now()
		rt, wait, p := pick.Next(now)
		if p == routing.NoneUsable {
			if attempts == 0 {
				return routing.KindUnreachable, false // every key disabled: as unreachable, or 503
			}
			break
		}
		if p == routing.Wait {
			if wait > rl.opts.MaxCooldownWait {
				cooledOut = true // every eligible target cools past MAX_COOLDOWN_WAIT: as rate limited
				break
			}
			time.Sleep(wait)
		}
		if in.Cancel.Cancelled() {
			res.releaseLast()
			res.Outcome = ClientGone
			return 0, true
		}
		t := rs.targets[rt.Index]
		rl.translateFor(step, in, rt)
		start := time.Now()
		a := rl.attempt(t, in)
		resp, reason := a.resp, a.reason
		status := 0
		if resp != nil {
			status = resp.StatusCode()
			if reason != ReasonOK {
				redactKey(resp, t)
			}
		}
		if resp != nil && reason != ReasonOK && a.body == nil {
			if u, bad := routing.KeyUnusable(status, resp.Body()); bad {
				r.Disable(rt, u.Reason, u.Quota, start)
				res.Attempts = append(res.Attempts, Attempt{Target: t, Model: step.Model, Status: status, Reason: ReasonKeyUnusable, Duration: time.Since(start), Translate: in.translate})
				t.noteError(start, string(ReasonKeyUnusable)+" "+u.Reason)
				fasthttp.ReleaseResponse(resp)
				continue
			}
		}
		attempts++
		res.Attempts = append(res.Attempts, Attempt{Target: t, Model: step.Model, Status: status, Reason: reason, Cause: a.cause, Duration: time.Since(start), Translate: in.translate})
		lastReason = reason
		switch reason {
		case ReasonOK:
			r.Succeeded(rt, start)
		case ReasonRateLimit:
			rateLimits++
			res.RateLimits++
		}
		if resp != nil && (reason == ReasonRateLimit || reason == ReasonServerError) {
			if d, ok := ParseRetryAfter(string(resp.Header.Peek("Retry-After-Ms")), string(resp.Header.Peek("Retry-After")), start); ok && d > 0 {
				r.CoolDown(rt, step.Model, d, start)
			}
		}
		if reason != ReasonOK && reason != ReasonClientGone {
			what := string(reason) + statusSuffix(status)
			if a.cause != "" {
				what += " (" + string(a.cause) + ")"
			}
			t.noteError(start, what)
		}
		if reason == ReasonConnectError && a.sent && !resendable(in) {
			// The upstream may have acted on this request: never sent twice,
			// not even as another model.
			res.releaseLast()
			res.Outcome = Unreachable
			return 0, true
		}
		if !reason.Retryable() {
			switch {
			case reason == ReasonTimeout:
				if plan.FallsBackOn(routing.KindTimeout) {
					return routing.KindTimeout, false
				}
				res.releaseLast()
				res.Outcome = TimedOut
			case reason == ReasonClientGone:
				res.releaseLast()
				res.Outcome = ClientGone
			case resp != nil && a.body == nil && plan.FallsBackOn(routing.KindContextLength) && routing.ContextLength(status, resp.Body()):
				res.setLast(resp, t, in.translate)
				return routing.KindContextLength, false
			default:
				res.releaseLast()
				res.Outcome, res.Target, res.Resp, res.Prefix, res.Body, res.SSE = Answered, t, resp, a.prefix, a.body, a.sse
				res.Translate = in.translate
			}
			return 0, true
		}
		answered = answered || resp != nil
		if resp != nil {
			res.setLast(resp, t, in.translate)
		}
	}
	switch {
	case rateLimits == attempts && (attempts > 0 || cooledOut):
		return routing.KindRateLimit, false
	case lastReason == ReasonServerError:
		return routing.KindServerError, false
	case !answered:
		return routing.KindUnreachable, false
	}
	// Some attempt got an answer but the last got none: no kind of
	// fallback_on describes it; the last answer is relayed.
	return routing.KindNone, false
}

// finish settles a request whose last model's attempts ended without an
// answer to relay: what SPEC.md gives for the last model.
func (rl *Relay) finish(rs *routedTargets, step *routing.Step, res *Result, kind routing.Kind) {
	switch {
	case kind == routing.KindTimeout:
		res.releaseLast()
		res.Outcome = TimedOut
	case kind == routing.KindUnreachable && rs.r.AllDisabled(step, time.Now()):
		res.releaseLast()
		res.Outcome = NoUsableKey
	case kind == routing.KindRateLimit:
		res.releaseLast()
		res.Outcome = AllRateLimited
		p := rs.r.Picker(step)
		res.RetryAfter = p.SoonestRecovery(time.Now())
	case res.Resp != nil:
		res.Outcome = Answered
	default:
		res.Outcome = Unreachable
	}
}

// setLast keeps resp as the latest retryable answer (relayed if nothing better comes).
func (res *Result) setLast(resp *fasthttp.Response, t *Target, d translate.Direction) {
	res.releaseLast()
	res.Resp, res.Target, res.Translate = resp, t, d
}

// releaseLast frees a kept retryable answer.
func (res *Result) releaseLast() {
	if res.Resp != nil && res.Body == nil {
		fasthttp.ReleaseResponse(res.Resp)
	}
	res.Resp, res.Target, res.Translate = nil, nil, translate.None
}

func statusSuffix(status int) string {
	if status == 0 {
		return ""
	}
	return " " + strconv.Itoa(status)
}
