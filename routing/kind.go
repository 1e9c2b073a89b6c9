package routing

import "strings"

// Kind is how one model's attempts ended, as far as fallback is concerned.
type Kind uint8

// The fallback kinds (ROUTING.md, Fallback).
const (
	// KindNone: the model's attempts ended in an answer to relay (no fallback).
	KindNone Kind = iota
	// KindRateLimit: every attempt was rate limited, or every eligible target
	// is cooling past MAX_COOLDOWN_WAIT.
	KindRateLimit
	// KindServerError: the last attempt got a retryable 5xx.
	KindServerError
	// KindUnreachable: no attempt got an answer (or every eligible target is disabled).
	KindUnreachable
	// KindTimeout: no first byte within the model's first-byte timeout.
	KindTimeout
	// KindContextLength: the upstream said the prompt is too long for the model.
	KindContextLength
	numKinds
)

var kindNames = [numKinds]string{"", "rate_limit", "server_error", "unreachable", "timeout", "context_length"}

// String returns the kind's name as written in fallback_on.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "unknown"
}

// ParseKind returns the kind named s (as in fallback_on).
func ParseKind(s string) (Kind, bool) {
	for k := KindRateLimit; k < numKinds; k++ {
		if kindNames[k] == s {
			return k, true
		}
	}
	return KindNone, false
}

// KindSet is a set of kinds.
type KindSet uint8

// DefaultFallbackOn is fallback_on when a model entry does not give it.
const DefaultFallbackOn = KindSet(1<<KindRateLimit | 1<<KindServerError | 1<<KindUnreachable | 1<<KindTimeout)

// Has reports whether k is in the set.
func (s KindSet) Has(k Kind) bool { return k != KindNone && s&(1<<k) != 0 }

// With returns the set with k added.
func (s KindSet) With(k Kind) KindSet { return s | 1<<k }

// String lists the kinds, comma-separated, in their fixed order.
func (s KindSet) String() string {
	var names []string
	for k := KindRateLimit; k < numKinds; k++ {
		if s.Has(k) {
			names = append(names, k.String())
		}
	}
	return strings.Join(names, ", ")
}
