package upstream

import (
	"bytes"

	"github.com/tidwall/gjson"
)

// Reason classifies one attempt. The values are stable: they appear in the
// request record, the dashboard and metric labels.
type Reason string

// The attempt reasons.
const (
	ReasonOK           Reason = "ok"            // a 2xx answer (for streams: the first event was not an error)
	ReasonRateLimit    Reason = "rate_limit"    // 429, a rate-limit error text, or a stream whose first event is one
	ReasonServerError  Reason = "server_error"  // a retryable status (5xx, 529) or a stream whose first event is a server error
	ReasonConnectError Reason = "connect_error" // no response byte: refused, reset, closed, dial timeout, no free connection
	ReasonTimeout      Reason = "timeout"       // the upstream did not answer in time (never retried)
	ReasonClientError  Reason = "client_error"  // any other non-2xx answer: relayed at once, never retried
	ReasonClientGone   Reason = "client_gone"   // the client left while this attempt was under way
)

// Retryable reports whether an attempt with this reason moves on to the next target.
func (r Reason) Retryable() bool {
	return r == ReasonRateLimit || r == ReasonServerError || r == ReasonConnectError
}

var rateLimitWords = [][]byte{[]byte("rate limit"), []byte("rate_limit"), []byte("too many requests"), []byte("ratelimit")}

// MentionsRateLimit reports whether text speaks of a rate limit: one of the
// phrases "rate limit", "rate_limit", "ratelimit", "too many requests",
// ignoring case, standing as words — not inside an identifier such as the
// model name "gpt-4o-ratelimit-test". A phrase may not follow a letter,
// digit, '-', '.' or '/', nor be followed by a digit, '-', '.' or '/'; a
// word ending ("rate limits", "rate_limit_error", "ratelimited") is fine.
// It does not allocate for inputs up to 4 KiB; longer inputs are checked in
// their first and last 2 KiB, where error messages live.
func MentionsRateLimit(text []byte) bool {
	const window = 2048
	if len(text) > 2*window {
		return MentionsRateLimit(text[:window]) || MentionsRateLimit(text[len(text)-window:])
	}
	var buf [2 * window]byte
	lower := buf[:len(text)]
	for i, c := range text {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	for _, w := range rateLimitWords {
		for from := 0; ; {
			i := bytes.Index(lower[from:], w)
			if i < 0 {
				break
			}
			i += from
			end := i + len(w)
			if (i == 0 || !identBefore(lower[i-1])) && (end == len(lower) || !identAfter(lower[end])) {
				return true
			}
			from = i + 1
		}
	}
	return false
}

// identBefore reports whether c, just before a phrase, makes it part of an identifier.
func identBefore(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '/'
}

// identAfter reports whether c, just after a phrase, makes it part of an identifier.
func identAfter(c byte) bool {
	return '0' <= c && c <= '9' || c == '-' || c == '.' || c == '/'
}

// Classifier decides what an upstream answer means for the attempt loop.
type Classifier struct {
	retry [600]bool
}

// NewClassifier returns a classifier that retries the given statuses (429 is
// always a rate limit, whether listed or not).
func NewClassifier(retryStatuses []int) *Classifier {
	c := &Classifier{}
	for _, s := range retryStatuses {
		if s >= 0 && s < len(c.retry) {
			c.retry[s] = true
		}
	}
	return c
}

// Status classifies a complete (non-stream, or non-2xx) answer by its status and body.
func (c *Classifier) Status(status int, body []byte) Reason {
	switch {
	case status >= 200 && status < 300:
		return ReasonOK
	case status == 429:
		return ReasonRateLimit
	case (status == 403 || status >= 500) && MentionsRateLimit(body):
		// Some upstreams report a rate limit as 403 or 5xx with a text.
		return ReasonRateLimit
	case status >= 400 && status < 500 && status != 401 && status != 403 && status != 404 && rateLimitType(body):
		// A 400-family answer is a rate limit only by its error type or
		// code, never by its free text (which may quote the request).
		return ReasonRateLimit
	case status >= 0 && status < len(c.retry) && c.retry[status]:
		return ReasonServerError
	default:
		return ReasonClientError
	}
}

// rateLimitType reports whether a JSON error body's type or code names a
// rate limit: OpenAI's error.type/error.code, Anthropic's error.type.
func rateLimitType(body []byte) bool {
	if len(body) == 0 || body[0] != '{' {
		return false
	}
	for _, r := range gjson.GetManyBytes(body, "error.type", "error.code", "code") {
		if r.Type == gjson.String && MentionsRateLimit([]byte(r.Str)) {
			return true
		}
	}
	return false
}

var serverErrorWords = [][]byte{[]byte("overloaded"), []byte("server_error"), []byte("api_error"), []byte("internal"), []byte("unavailable"), []byte("timeout")}

// FirstEvent classifies the first event of a 2xx SSE stream: an error event
// that speaks of a rate limit is a rate limit; one that speaks of an overload
// or a server-side failure is a server error; anything else is ok (relayed).
func (c *Classifier) FirstEvent(event []byte) Reason {
	if !IsErrorEvent(event) {
		return ReasonOK
	}
	if MentionsRateLimit(event) {
		return ReasonRateLimit
	}
	lower := bytes.ToLower(event)
	for _, w := range serverErrorWords {
		if bytes.Contains(lower, w) {
			return ReasonServerError
		}
	}
	return ReasonOK
}

// IsErrorEvent reports whether an SSE event is an error: `event: error`, or a
// data payload whose JSON has a top-level "error" member (OpenAI style) or
// "type":"error" (Anthropic style).
func IsErrorEvent(event []byte) bool {
	name, data := EventFields(event)
	if bytes.Equal(name, []byte("error")) {
		return true
	}
	if len(data) == 0 || data[0] != '{' {
		return false
	}
	res := gjson.GetManyBytes(data, "error", "type")
	return res[0].Exists() || res[1].String() == "error"
}
