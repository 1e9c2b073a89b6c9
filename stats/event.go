// Package stats turns finished requests into the dashboard's figures: the
// request record (Event), counters, a ring of recent records, a non-blocking
// bus for live viewers and the SQLite store. It imports no project package and
// knows nothing of HTTP.
package stats

import (
	"encoding/json"
	"time"
)

// Family is the API family of a route, decided by its path.
type Family string

// The two route families.
const (
	FamilyOpenAI    Family = "openai"
	FamilyAnthropic Family = "anthropic"
)

// Outcome says how a request ended. Only OutcomeOK counts as a success.
type Outcome string

// The outcomes a request can have.
const (
	// OutcomeOK: a 2xx answer relayed whole (a stream that ended cleanly at the HTTP level).
	OutcomeOK Outcome = "ok"
	// OutcomeRateLimited: every attempt was rate limited; the client got 429.
	OutcomeRateLimited Outcome = "rate_limited"
	// OutcomeUpstreamError: the upstream answered with an error that was relayed (4xx/5xx).
	OutcomeUpstreamError Outcome = "upstream_error"
	// OutcomeUnreachable: no attempt got an answer (connection failures); the client got 502.
	OutcomeUnreachable Outcome = "unreachable"
	// OutcomeTimeout: the upstream did not answer in time; the client got 504.
	OutcomeTimeout Outcome = "timeout"
	// OutcomeStreamBroken: a committed stream broke or stalled; the client got an error event.
	OutcomeStreamBroken Outcome = "stream_broken"
	// OutcomeClientGone: the client left before the answer was complete (recorded as status 499).
	OutcomeClientGone Outcome = "client_gone"
	// OutcomeBadRequest: the proxy refused the request itself (bad JSON, body too large).
	OutcomeBadRequest Outcome = "bad_request"
)

// Attempt is one try against one upstream target.
type Attempt struct {
	// Target is the target's display name (never its key).
	Target string `json:"target"`
	// Status is the upstream's HTTP status; 0 when no answer arrived.
	Status int `json:"status"`
	// Reason classifies the attempt: "ok", "rate_limit", "server_error",
	// "connect_error", "timeout", "client_error", "stream_error", "client_gone".
	Reason string `json:"reason"`
	// Cause names why no answer came ("dns", "refused", "reset", "tls",
	// "timeout", "closed_before_answer", …); empty when one came.
	Cause string `json:"cause,omitempty"`
	// DurationMs is how long the attempt took until it was classified.
	DurationMs float64 `json:"duration_ms"`
	// Model is the model this attempt asked for (with a routing file; empty without).
	Model string `json:"model,omitempty"`
	// Translated is true when the attempt went to a target of the other API
	// (TRANSLATION.md); Translation then says from which API to which,
	// e.g. "openai→anthropic".
	Translated  bool   `json:"translated,omitempty"`
	Translation string `json:"translation,omitempty"`
}

// Event is the record of one finished proxied request.
type Event struct {
	// ID is assigned by the Recorder (monotonic, survives restarts with the store); 0 before.
	ID int64 `json:"id"`
	// Replica is the REPLICA_NAME of the process that served it.
	Replica string `json:"replica,omitempty"`
	// Time is when the request arrived.
	Time time.Time `json:"time"`
	// Method is the HTTP method.
	Method string `json:"method"`
	// Route is the request path without the query string, e.g. "/v1/chat/completions".
	Route string `json:"route"`
	// Family is the route family.
	Family Family `json:"family"`
	// Model is the body's "model" field, cut to 128 bytes; empty when absent.
	Model string `json:"model"`
	// ServedModel is the model of the last attempt, after alias and fallback
	// (with a routing file; empty without).
	ServedModel string `json:"served_model,omitempty"`
	// Fallbacks counts the moves to a fallback model (routing file).
	Fallbacks int `json:"fallbacks,omitempty"`
	// Stream is true when the request asked for a stream.
	Stream bool `json:"stream"`
	// Status is the HTTP status the client got (499 when the client left first).
	Status int `json:"status"`
	// Outcome is how the request ended.
	Outcome Outcome `json:"outcome"`
	// Target names the target that served the final answer; empty when none did.
	Target string `json:"target"`
	// Attempts is the attempt trail, in order. Its length minus one is the retry count.
	Attempts []Attempt `json:"attempts"`
	// RateLimits counts the attempts classified as rate limited (also those a retry recovered).
	RateLimits int `json:"rate_limits"`
	// LatencyMs is the time from arrival until the last byte was sent.
	LatencyMs float64 `json:"latency_ms"`
	// TTFBMs is the time from arrival until the first answer byte was sent to the client.
	TTFBMs float64 `json:"ttfb_ms"`
	// InputTokens and OutputTokens come from the upstream's usage report; 0 when absent.
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
	// Terminal is true when a stream ended with its terminal marker
	// ("data: [DONE]" or "event: message_stop"); always false for non-streams.
	Terminal bool `json:"terminal"`
	// Error is a short, key-free description of what went wrong; empty on success.
	Error string `json:"error,omitempty"`
	// Estimated is true when the answer was estimated locally rather than
	// asked of an upstream (count_tokens for a model only OpenAI targets serve).
	Estimated bool `json:"estimated,omitempty"`
}

// MarshalJSON encodes the event with its JSON field names, writing a missing
// attempt trail as [] rather than null so that readers need no null check.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event // the same fields without this method
	p := plain(e)
	if p.Attempts == nil {
		p.Attempts = []Attempt{}
	}
	return json.Marshal(p)
}

// Retries is the number of attempts after the first.
func (e *Event) Retries() int {
	if len(e.Attempts) == 0 {
		return 0
	}
	return len(e.Attempts) - 1
}

// Success reports whether the request counts as a success.
func (e *Event) Success() bool { return e.Outcome == OutcomeOK }

// TargetState is one upstream target as the dashboard shows it.
type TargetState struct {
	// Name is the target's display name (never its key).
	Name string `json:"name"`
	// State is "ok" or "cooling".
	State string `json:"state"`
	// CoolingUntil is set while State is "cooling".
	CoolingUntil *time.Time `json:"cooling_until,omitempty"`
	// LastError is the last failed attempt's reason and status, e.g. "rate_limit 429"; empty if none.
	LastError string `json:"last_error,omitempty"`
	// LastErrorAt is when LastError happened.
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	// CooldownCapped is set when an upstream's Retry-After was longer than
	// MAX_COOLDOWN and was cut to it (the latest such time).
	CooldownCapped *CooldownCap `json:"cooldown_capped,omitempty"`
	// With a routing file: Group is the file's target name (shared by its
	// keys); State is also "ready", "disabled" or "probation"; Cooling lists
	// the cooldowns per model; Disabled describes a disabled key.
	Group    string          `json:"group,omitempty"`
	Cooling  []ModelCooldown `json:"cooling,omitempty"`
	Disabled *DisabledKey    `json:"disabled,omitempty"`
}

// CooldownCap says that a Retry-After was cut to MAX_COOLDOWN.
type CooldownCap struct {
	// At is when the cap was applied.
	At time.Time `json:"at"`
	// AskedSeconds is the cooldown the upstream asked for.
	AskedSeconds float64 `json:"asked_seconds"`
	// CappedSeconds is the cooldown honoured (MAX_COOLDOWN).
	CappedSeconds float64 `json:"capped_seconds"`
}

// ModelCooldown is one cooldown of a target (routing file).
type ModelCooldown struct {
	// Model is the cooling model; "" cools the whole target.
	Model string    `json:"model"`
	Until time.Time `json:"until"`
	// Capped: the upstream asked for more than MAX_COOLDOWN.
	Capped bool `json:"capped"`
}

// DisabledKey says why and since when a target's key is disabled, and when
// it is checked (or tried on probation) next.
type DisabledKey struct {
	Reason    string    `json:"reason"`
	Since     time.Time `json:"since"`
	NextCheck time.Time `json:"next_check"`
}
