package routing

import (
	"bytes"

	"github.com/tidwall/gjson"
)

// Unusable is the verdict on an answer that says the key itself is unusable.
type Unusable struct {
	// Reason is shown on the dashboard; fixed texts, never the upstream's
	// message (which may echo part of the key).
	Reason string
	// Quota: out of quota or credit. A model list does not prove such a key
	// back, so it returns on probation after QUOTA_RETRY_INTERVAL instead.
	Quota bool
}

// KeyUnusable reports whether an upstream answer (status and complete body)
// says that the key is unusable for every model, in either API's shape:
//   - 401, any body;
//   - 403 with Anthropic's error type permission_error;
//   - 403 from OpenAI whose error concerns the key, organization, project or
//     region (a 403 about one model's access is not: other models still work);
//   - 429 with OpenAI's insufficient_quota (code or type) — quota;
//   - 400 whose message says the credit balance is too low (Anthropic) — quota.
//
// Every other answer, including rate limits and other 4xx, is not.
func KeyUnusable(status int, body []byte) (Unusable, bool) {
	switch status {
	case 401:
		return Unusable{Reason: "unauthorized (401)"}, true
	case 403:
		errType, code, msg := errorFields(body)
		if errType == "permission_error" {
			return Unusable{Reason: "permission denied (403)"}, true
		}
		if code == "unsupported_country_region_territory" {
			return Unusable{Reason: "region not supported (403)"}, true
		}
		lower := bytes.ToLower([]byte(msg))
		if containsAny(lower, "model") {
			return Unusable{}, false // access to one model: the key still serves others
		}
		if containsAny(lower, "api key", "api_key", "organization", "organisation", "project", "region", "country", "territory") {
			return Unusable{Reason: "forbidden: key, organization, project or region (403)"}, true
		}
	case 429:
		errType, code, _ := errorFields(body)
		if code == "insufficient_quota" || errType == "insufficient_quota" {
			return Unusable{Reason: "quota exhausted (429 insufficient_quota)", Quota: true}, true
		}
	case 400:
		_, _, msg := errorFields(body)
		if containsAny(bytes.ToLower([]byte(msg)), "credit balance is too low") {
			return Unusable{Reason: "credit balance too low (400)", Quota: true}, true
		}
	}
	return Unusable{}, false
}

// ContextLength reports whether an answer says the prompt is too long for
// the model: OpenAI's context_length_exceeded, Anthropic's "prompt is too long".
func ContextLength(status int, body []byte) bool {
	if status < 400 || status >= 500 {
		return false
	}
	_, code, msg := errorFields(body)
	if code == "context_length_exceeded" {
		return true
	}
	lower := bytes.ToLower([]byte(msg))
	return containsAny(lower, "prompt is too long", "maximum context length")
}

// errorFields reads error.type, error.code and error.message of an error
// body in either API's shape (Anthropic: {"type":"error","error":{"type",
// "message"}}; OpenAI: {"error":{"message","type","code"}}).
func errorFields(body []byte) (errType, code, msg string) {
	r := gjson.GetManyBytes(body, "error.type", "error.code", "error.message")
	return r[0].String(), r[1].String(), r[2].String()
}

func containsAny(lower []byte, words ...string) bool {
	for _, w := range words {
		if bytes.Contains(lower, []byte(w)) {
			return true
		}
	}
	return false
}
